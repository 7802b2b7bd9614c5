--[[ callouts.lua: Quarto callouts.

  ::: {.callout-note title="Optional title"}      (or a first "## Title" heading inside)
  Body
  :::

note, tip, warning, caution and important become a titled box: in HTML a div styled by
report/assets/paper.css, in Typst a coloured #block.
--]]

local TITLES = { note = "Note", tip = "Tip", warning = "Warning", caution = "Caution", important = "Important" }
local COLOURS = { note = "#0758e5", tip = "#00a047", warning = "#eb9113", caution = "#fc5300", important = "#cc1914" }

local function callout_kind(div)
  for _, class in ipairs(div.classes) do
    local kind = class:match("^callout%-(%a+)$")
    if TITLES[kind] then return kind end
  end
end

function Div(div)
  local kind = callout_kind(div)
  if not kind then return nil end
  local body = div.content
  local title = pandoc.Inlines { pandoc.Str(TITLES[kind]) }
  if div.attributes.title then
    title = pandoc.utils.blocks_to_inlines(pandoc.read(div.attributes.title, "markdown").blocks)
  elseif body[1] and body[1].t == "Header" then
    title = body:remove(1).content
  end

  if FORMAT:match("typst") then
    local open = string.format(
      '#block(width: 100%%, inset: 8pt, radius: 2pt, fill: rgb("%s").lighten(92%%), stroke: (left: 3pt + rgb("%s")))[',
      COLOURS[kind], COLOURS[kind])
    local blocks = pandoc.Blocks { pandoc.RawBlock("typst", open), pandoc.Para { pandoc.Strong(title) } }
    blocks:extend(body)
    blocks:insert(pandoc.RawBlock("typst", "]"))
    return blocks
  end
  return pandoc.Div({
    pandoc.Div(pandoc.Plain(title), { class = "callout-title" }),
    pandoc.Div(body, { class = "callout-body" }),
  }, pandoc.Attr(div.identifier, { "callout", "callout-" .. kind }))
end
