-- collatz.lua: the start in the range whose Collatz sequence takes the most steps to reach 1.
--   reef job run examples/jobs/collatz.lua --range 1:1000000     -> {"n":837799,"steps":524}
-- A partial result is a table; reduce keeps the better one (ties go to the smaller start, so
-- the answer does not depend on the order chunks finish in).

local function steps(n)
  local count = 0
  while n ~= 1 do
    if n % 2 == 0 then n = n // 2 else n = 3 * n + 1 end
    count = count + 1
  end
  return count
end

function map(first, last)
  local best = nil
  for n = math.max(first, 1), last - 1 do
    local s = steps(n)
    if best == nil or s > best.steps then
      best = { n = n, steps = s }
    end
  end
  return best
end

function reduce(a, b)
  if a.steps > b.steps or (a.steps == b.steps and a.n < b.n) then
    return a
  end
  return b
end
