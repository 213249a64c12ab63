-- pi.lua: the pi kernel as a Lua map/reduce job.
--   reef job run examples/jobs/pi.lua --range 0:20000000 --seed 1
-- Sample i of seed s is the word splitmix64(s ~ splitmix64(i)): x is its high 32 bits and y its
-- low 32 bits, and the sample hits when x^2 + y^2 < 2^64. That is exactly what the native
-- kernel (`reef job pi`) computes, so both count the same hits for every seed and range.

local function splitmix64(x)
  local z = x + 0x9e3779b97f4a7c15        -- Lua integers wrap around like uint64_t
  z = (z ~ (z >> 30)) * 0xbf58476d1ce4e5b9 -- >> is a logical shift
  z = (z ~ (z >> 27)) * 0x94d049bb133111eb
  return z ~ (z >> 31)
end

-- The hits among samples [first, last).
function map(first, last, job)
  local seed, hits = job.seed, 0
  local ult = math.ult
  for i = first, last - 1 do
    local word = splitmix64(seed ~ splitmix64(i))
    local x, y = word >> 32, word & 0xffffffff
    -- x*x and y*y are below 2^64 as unsigned numbers; their sum is too when x*x <= ~(y*y).
    if not ult(~(y * y), x * x) then
      hits = hits + 1
    end
  end
  return hits
end

-- Partial hit counts add up: no reduce needed (numbers are summed).

function finish(hits, count)
  return 4 * hits / count
end
