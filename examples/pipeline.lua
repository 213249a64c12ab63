-- pipeline.lua: a Starfish-style process of stateless tasks passing events.
-- `reef run examples/pipeline.lua 1 2 3 4` spawns square -> add_one -> sink and feeds each
-- argument in as an event; every event carries its own data, so square and add_one keep no state
-- but their configuration. The sink collects results by sequence: {"1": 2, "2": 5, ...}.
function main(args, ctx)
  local sink = ctx.spawn("sink", {})
  local add_one = ctx.spawn("add_one", { next = sink })
  local square = ctx.spawn("square", { next = add_one })
  for i, text in ipairs(args.argv or {}) do
    ctx.send(square, { seq = i, value = tonumber(text) or 0 })
  end
  return { input = square, sink = sink }
end

square = {}
function square.init(config) return config end
function square.handle(config, event, ctx)
  ctx.send(config.next, { seq = event.seq, value = event.value * event.value })
  return config
end

add_one = {}
function add_one.init(config) return config end
function add_one.handle(config, event, ctx)
  ctx.send(config.next, { seq = event.seq, value = event.value + 1 })
  return config
end

sink = {}
function sink.init() return { results = {}, count = 0 } end
function sink.handle(state, event)
  state.results[tostring(event.seq)] = event.value
  state.count = state.count + 1
  return state
end
