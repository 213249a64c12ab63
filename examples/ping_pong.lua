-- ping_pong.lua: two actors bouncing a ball. `reef run examples/ping_pong.lua 20` starts a
-- process whose start event spawns pong and ping; ping sends the ball to pong, pong sends it back,
-- until ping has it back 20 times. Messages between actors are delivered exactly once, in order.
function main(args, ctx)
  local rounds = tonumber(args.argv and args.argv[1]) or 10
  local pong_name = ctx.spawn("pong", {})
  local ping_name = ctx.spawn("ping", { peer = pong_name, rounds = rounds })
  return { ping = ping_name, pong = pong_name }
end

ping = {}
function ping.init(args, ctx)
  ctx.send(args.peer, { ball = 1, reply_to = ctx.self })
  return { peer = args.peer, rounds = args.rounds, returned = 0 }
end
function ping.handle(state, msg, ctx)
  state.returned = state.returned + 1
  if state.returned < state.rounds then
    ctx.send(state.peer, { ball = msg.ball + 1, reply_to = ctx.self })
  end
  return state
end

pong = {}
function pong.init() return { hits = 0 } end
function pong.handle(state, msg, ctx)
  state.hits = state.hits + 1
  ctx.send(msg.reply_to, { ball = msg.ball })
  return state
end
