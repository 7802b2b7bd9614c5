--[[ crossref.lua: Quarto-style numbered figures, tables and sections, and @-references.

Floats (numbered in document order, caption prefixed with "Figure N: " / "Table N: "):
  ![Caption](plot.png){#fig-x}                  a markdown figure
  | a | b | ... then  : Caption {#tbl-x}         a markdown table
  ::: {#fig-x} ... Caption :::                  a div whose last paragraph is the caption
  ::: {#tbl-x tbl-cap="Caption"} table :::      what report/weave.py writes for a labelled cell
Sections: # Heading {#sec-x} is numbered as pandoc's --number-sections numbers it.
References: @fig-x and [@fig-x] -> "Figure 1", @Fig-x -> "Figure 1", -@fig-x -> "1", each a
link to the float ("Section N", or the heading's text when sections are not numbered).
A reference with a Quarto cross-reference prefix that matches nothing stops the render, and
so does an internal link [text](#id) to an id that no element has (ids in raw HTML blocks
count); other citations are left to citeproc.
--]]

local NAMES = { fig = "Figure", tbl = "Table", sec = "Section" }
-- Quarto reserves these prefixes for cross-references.
local RESERVED = {}
for prefix in ("fig tbl lst tip nte wrn imp cau thm lem cor prp cnj def exm exr sol rem eq sec"):gmatch("%a+") do
  RESERVED[prefix] = true
end

local labels = {}      -- id -> "Figure 1"
local numbers = {}     -- id -> "1"
local unresolved = {}  -- "@fig-missing", ...

local function kind_of(id)
  return (id:match("^(%a+)%-") or ""):lower()
end

-- Pass 1: a fig-/tbl- div becomes a pandoc Figure, or the table inside it gets the id and caption.
local function caption_of(div)
  local attribute = div.attributes[kind_of(div.identifier) .. "-cap"]
  if attribute then
    return pandoc.utils.blocks_to_inlines(pandoc.read(attribute, "markdown").blocks), div.content
  end
  local content = div.content
  if #content > 1 and content[#content].t == "Para" then
    return content:remove().content, content
  end
  return pandoc.Inlines {}, content
end

local function float_from_div(div)
  local kind = kind_of(div.identifier)
  if kind ~= "fig" and kind ~= "tbl" then
    return nil
  end
  local caption, content = caption_of(div)
  if kind == "fig" then
    return pandoc.Figure(content, { pandoc.Plain(caption) }, pandoc.Attr(div.identifier, div.classes))
  end
  local found = false
  content = content:walk {
    Table = function(tbl)
      if found then return nil end
      found = true
      tbl.identifier = div.identifier
      local table_caption = tbl.caption
      table_caption.long = { pandoc.Plain(caption) }
      tbl.caption = table_caption
      return tbl
    end,
  }
  if not found then
    error("#" .. div.identifier .. " has a table label but contains no table "
      .. "(emit the table as markdown, e.g. IPython.display.Markdown(df.to_markdown()))", 0)
  end
  return content
end

-- Pass 2: number floats and sections in document order.
local counts = { fig = 0, tbl = 0 }
local section = {}

local function number_float(float, kind)
  if kind_of(float.identifier) ~= kind then return nil end
  counts[kind] = counts[kind] + 1
  local number = tostring(counts[kind])
  local label = NAMES[kind] .. " " .. number
  labels[float.identifier], numbers[float.identifier] = label, number
  local caption = float.caption
  if #pandoc.utils.stringify(caption.long) > 0 and caption.long[1].content then
    caption.long[1].content = pandoc.Inlines { pandoc.Str(label .. ":"), pandoc.Space() } .. caption.long[1].content
  else
    caption.long = { pandoc.Plain { pandoc.Str(label) } }
  end
  float.caption = caption
  return float
end

local function number_section(header)
  local is_sec = kind_of(header.identifier) == "sec"
  if header.classes:includes("unnumbered") or not PANDOC_WRITER_OPTIONS.number_sections then
    if is_sec then
      labels[header.identifier] = pandoc.utils.stringify(header.content)
      numbers[header.identifier] = labels[header.identifier]
    end
    return nil
  end
  section[header.level] = (section[header.level] or 0) + 1
  for level = header.level + 1, 6 do section[level] = nil end
  local parts = {}
  for level = 1, header.level do parts[level] = tostring(section[level] or 0) end
  if is_sec then
    numbers[header.identifier] = table.concat(parts, ".")
    labels[header.identifier] = "Section " .. numbers[header.identifier]
  end
end

-- Pass 3: references become links.
local function resolve(cite)
  for _, citation in ipairs(cite.citations) do
    if not RESERVED[kind_of(citation.id)] then return nil end -- a bibliography citation
  end
  local result = pandoc.Inlines {}
  for i, citation in ipairs(cite.citations) do
    local id = kind_of(citation.id) .. citation.id:match("%-.*$") -- @Fig-x refers to #fig-x
    if not labels[id] then
      table.insert(unresolved, "@" .. citation.id)
    else
      local text = citation.mode == "SuppressAuthor" and numbers[id] or labels[id]
      if i > 1 then result:insert(pandoc.Str(", ")) end
      if #citation.prefix > 0 then result:extend(citation.prefix .. { pandoc.Space() }) end
      result:insert(pandoc.Link(text, "#" .. id))
      result:extend(citation.suffix)
    end
  end
  return result
end

-- Pass 4: every internal link [text](#id) must reach an element with that id.
local ids = {}
local function collect_id(el)
  if el.identifier and el.identifier ~= "" then ids[el.identifier] = true end
end

local function check_link(link)
  local id = link.target:match("^#(.+)$")
  if id and not ids[id] then table.insert(unresolved, "[" .. pandoc.utils.stringify(link) .. "](#" .. id .. ")") end
end

-- an id written in raw HTML (a table row the report writes itself) is a target too
local function collect_raw_ids(raw)
  if raw.format == "html" then
    for id in raw.text:gmatch('%sid="([^"]+)"') do ids[id] = true end
  end
end

local function check(doc)
  doc:walk { Block = collect_id, Inline = collect_id, RawBlock = collect_raw_ids }
  doc:walk { Link = check_link }
  if #unresolved > 0 then
    error("Unresolved cross-reference(s): " .. table.concat(unresolved, ", ")
      .. " (no element has that id)", 0)
  end
  return doc
end

return {
  { Div = float_from_div },
  {
    traverse = "topdown",
    Figure = function(el) return number_float(el, "fig") end,
    Table = function(el) return number_float(el, "tbl") end,
    Header = number_section,
  },
  { Cite = resolve },
  { Pandoc = check },
}
