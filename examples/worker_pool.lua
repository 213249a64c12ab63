-- worker_pool.lua: a supervised pool. `reef run examples/worker_pool.lua 3` starts a supervisor
-- (the process root) with 3 workers; send jobs to the process: {"job": 1}. A job with
-- "fail": true makes its worker's handler fail: the supervisor is told and restarts that worker
-- (one-for-one, back to its init state), at most 5 times in 10 s before it gives up itself.
supervision = { strategy = "one_for_one", intensity = 5, period_ms = 10000, backoff_ms = 50 }

function main(args, ctx)
  local count = tonumber(args.argv and args.argv[1]) or 3
  local workers = {}
  for i = 1, count do
    workers[i] = ctx.spawn("worker", { id = i })
  end
  return { workers = workers, next = 1, submitted = 0 }
end

function handle(state, msg, ctx)
  if msg.job then
    ctx.send(state.workers[state.next], msg)
    state.next = state.next % #state.workers + 1
    state.submitted = state.submitted + 1
  end
  return state
end

worker = {}
function worker.init(args) return { id = args.id, done = 0 } end
function worker.handle(state, msg)
  if msg.fail then
    error("job " .. tostring(msg.job) .. " failed on purpose")
  end
  state.done = state.done + 1
  return state
end
