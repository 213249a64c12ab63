-- hello.lua: the smallest process. `reef run examples/hello.lua world` starts it; its start
-- event logs a greeting (in the log of the node that runs it) and keeps the greeting as state.
function main(args, ctx)
  local who = args.argv and args.argv[1] or "world"
  ctx.log("hello, " .. who .. " from " .. ctx.self)
  return { greeted = who }
end

function handle(state, msg, ctx)
  ctx.log("hello again, " .. tostring(msg.name or state.greeted))
  state.greetings = (state.greetings or 0) + 1
  return state
end
