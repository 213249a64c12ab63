-- chat.lua: a chat room. `reef run examples/chat.lua` starts the room (the process root).
--   reef send ROOM '{"join": "alice"}'             -- gives alice an inbox actor (ROOM/inbox-N)
--   reef send ROOM '{"from": "alice", "say": "hi"}' -- every member's inbox gets the line
--   reef state ROOM                                -- members, and the last 20 lines
--   reef state ROOM/inbox-1                        -- what alice received
function main() return { members = {}, inboxes = {}, history = {}, count = 0 } end

function handle(state, msg, ctx)
  if msg.join and state.members[msg.join] == nil then
    if state.count >= 12 then error("the room is full (12 members)") end
    state.members[msg.join] = ctx.spawn("inbox", { user = msg.join })
    state.count = state.count + 1
  elseif msg.leave and state.members[msg.leave] then
    ctx.send(state.members[msg.leave], { closed = true })
    state.members[msg.leave] = nil
    state.count = state.count - 1
  elseif msg.say then
    if state.members[msg.from] == nil then error(tostring(msg.from) .. " has not joined") end
    local line = { from = msg.from, text = msg.say }
    table.insert(state.history, line)
    if #state.history > 20 then table.remove(state.history, 1) end
    for _, inbox in pairs(state.members) do ctx.send(inbox, line) end
  end
  return state
end

inbox = {}
function inbox.init(args) return { user = args.user, lines = {} } end
function inbox.handle(state, msg, ctx)
  if msg.closed then ctx.stop() return state end
  table.insert(state.lines, msg.from .. ": " .. msg.text)
  if #state.lines > 50 then table.remove(state.lines, 1) end
  return state
end
