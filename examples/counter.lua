-- counter.lua: a durable counter (the EOS shape, handle(state, msg)).
--   reef spawn counter examples/counter.lua
--   reef send counter '{"add": 5}'
--   reef state counter            -> {"n": 5}
-- Every accepted message changes n exactly once, also when the node running it dies.
function init(args)
  return { n = args.start or 0 }
end

function handle(state, msg, ctx)
  state.n = state.n + (msg.add or 1)
  if msg.reply_to then
    ctx.send(msg.reply_to, { n = state.n, from = ctx.self })
  end
  return state
end
