--[[ abstract.lua: the first-level section with the id "abstract" becomes the document's abstract (the
`abstract` metadata field), so that pandoc's templates print it under the title, before the table of
contents, in HTML and in Typst alike. A document that sets `abstract:` itself is left alone.
--]]

function Pandoc(doc)
  if doc.meta.abstract then return nil end
  local start
  for i, block in ipairs(doc.blocks) do
    if block.t == "Header" and block.identifier == "abstract" then
      start = i
      break
    end
  end
  if not start then return nil end
  local stop = #doc.blocks + 1
  for i = start + 1, #doc.blocks do
    local block = doc.blocks[i]
    if block.t == "Header" and block.level <= doc.blocks[start].level then
      stop = i
      break
    end
  end
  local abstract, rest = pandoc.Blocks {}, pandoc.Blocks {}
  for i, block in ipairs(doc.blocks) do
    if i > start and i < stop then
      abstract:insert(block)
    elseif i < start or i >= stop then
      rest:insert(block)
    end
  end
  doc.meta.abstract = pandoc.MetaBlocks(abstract)
  doc.blocks = rest
  return doc
end
