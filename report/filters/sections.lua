--[[ sections.lua (Typst only): the body of every first-level section goes into a breakable block, so that
a floating figure stays inside its own section: Typst places a float no higher on its page than the start
of the block it is in, so a figure never rises above its section's heading; report/assets/report.typ
places the floats still waiting at every heading, so it never sinks past the next one either.
--]]

function Pandoc(doc)
  if not FORMAT:match("typst") then return nil end
  local blocks, open = pandoc.Blocks {}, false
  for _, block in ipairs(doc.blocks) do
    if block.t == "Header" and block.level == 1 then
      if open then blocks:insert(pandoc.RawBlock("typst", "]")) end
      blocks:insert(block)
      blocks:insert(pandoc.RawBlock("typst", "#block(width: 100%, breakable: true)["))
      open = true
    else
      blocks:insert(block)
    end
  end
  if open then blocks:insert(pandoc.RawBlock("typst", "]")) end
  doc.blocks = blocks
  return doc
end
