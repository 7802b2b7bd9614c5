--[[ html_tables.lua: turn raw HTML tables (a pandas DataFrame's display output) into pandoc
tables, so that they render in every format and a tbl- cell can caption and number them.
Other raw HTML, such as a table written for HTML only, is left alone (and so appears in HTML
output only).
--]]

function RawBlock(raw)
  if raw.format ~= "html" or not raw.text:find('<table[^>]*class="dataframe"') then
    return nil
  end
  local tables = pandoc.Blocks {}
  pandoc.read(raw.text, "html").blocks:walk {
    Table = function(tbl) tables:insert(tbl) end,
  }
  if #tables > 0 then
    return tables
  end
end
