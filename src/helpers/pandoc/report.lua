--[[
report.lua: pandoc Lua filter used by helpers.render.render_pdf (Markdown exported by nbconvert
-> Typst).

* Raw HTML blocks (pandas DataFrame tables, <figure> blocks emitted by notebook code) are re-read
  with pandoc's HTML reader, so a DataFrame becomes a real table instead of loose words and a
  <figure><img><figcaption> becomes a figure with its caption. <style>/<script> elements are
  dropped by the HTML reader; text is kept as text.
* Columns whose body cells are all numbers are right-aligned, other default columns left-aligned.
* A lone image whose alt text starts "Figure N." becomes a captioned figure; the caption's
  leading "Figure N." is set in bold.
* Images get a width (percent of the text column) from the `image-widths` metadata map written
  by helpers.render, so they never overflow the page and small images are not blown up.
]]

local widths = {}

local function read_widths(meta)
  local map = meta["image-widths"]
  if type(map) == "table" then
    for k, v in pairs(map) do
      widths[k] = pandoc.utils.stringify(v)
    end
  end
end

local function is_number(s)
  s = s:gsub("^%s+", ""):gsub("%s+$", "")
  if s == "" then
    return nil
  end
  s = s:gsub("\u{2212}", "-")
  return s:match("^[-+]?%d[%d,]*%.?%d*[eE]?[-+]?%d*%%?$") ~= nil
      or s:match("^[-+]?%.%d+%%?$") ~= nil
end

local function align_numeric_columns(tbl)
  local ncols = #tbl.colspecs
  for col = 1, ncols do
    local numeric, seen = true, 0
    for _, body in ipairs(tbl.bodies) do
      for _, row in ipairs(body.body) do
        local cell = row.cells[col]
        if cell then
          local text = pandoc.utils.stringify(cell.contents)
          local ok = is_number(text)
          if ok == false then
            numeric = false
          elseif ok then
            seen = seen + 1
          end
        end
      end
    end
    local spec = tbl.colspecs[col]
    if numeric and seen > 0 then
      tbl.colspecs[col] = { pandoc.AlignRight, spec[2] }
    elseif spec[1] == pandoc.AlignDefault then
      -- text columns read left; "auto" would inherit the centring of the table block
      tbl.colspecs[col] = { pandoc.AlignLeft, spec[2] }
    end
  end
  return tbl
end

local function size_image(img)
  if not img.attributes.width and widths[img.src] then
    img.attributes.width = widths[img.src]
  end
  img.attributes.height = nil
  return img
end

local function reread_html(el)
  if not el.format:match("^html") then
    return nil
  end
  local text = el.text
  -- comments and bare <style>/<script> blocks carry nothing printable
  local stripped = text:gsub("<!%-%-.-%-%->", ""):gsub("%s+", "")
  if stripped == "" then
    return {}
  end
  local doc = pandoc.read(text, "html")
  return doc.blocks
end

-- A paragraph holding only an image whose alt text reads "Figure N. ..." becomes a figure with
-- that caption (nbconvert's own outputs have alt "png" and stay plain images).
local function captioned_image(para)
  if #para.content ~= 1 or para.content[1].t ~= "Image" then
    return nil
  end
  local img = para.content[1]
  local alt = pandoc.utils.stringify(img.caption)
  if not (alt:match("^Figure%s+%w") or alt:match("^Fig%.%s+%w") or alt:match("^Table%s+%w")
      or alt:match("^Map%s+%w") or alt:match("^Chart%s+%w") or alt:match("^Box%s+%w")) then
    return nil
  end
  return pandoc.Figure(pandoc.Plain({ img }), { pandoc.Plain(img.caption) })
end

-- Bold the leading "Figure N." of a caption, as the HTML report does.
local function label_caption(fig)
  local blocks = fig.caption.long
  if #blocks == 0 or not blocks[1].content then
    return nil
  end
  local inl = blocks[1].content
  if #inl >= 3 and inl[1].t == "Str" and inl[2].t == "Space" and inl[3].t == "Str"
      and (inl[1].text:match("^Figure$") or inl[1].text:match("^Fig%.$") or inl[1].text:match("^Table$")
        or inl[1].text:match("^Map$") or inl[1].text:match("^Chart$") or inl[1].text:match("^Box$"))
      and inl[3].text:match("^[%w%.%-]+[%.:]$") then
    local label = pandoc.Strong({ inl[1], inl[2], inl[3] })
    local rest = pandoc.List({ label })
    for i = 4, #inl do
      rest:insert(inl[i])
    end
    blocks[1].content = rest
    fig.caption.long = blocks
    return fig
  end
  return nil
end

-- Attribute-less <div> wrappers (pandas wraps every DataFrame in one) would become Typst blocks
-- that shrink to their content and defeat centring: keep only their content.
local function unwrap_plain_div(div)
  if div.identifier == "" and #div.classes == 0 and #div.attributes == 0 then
    return div.content
  end
  return nil
end

return {
  { Meta = read_widths },
  { RawBlock = reread_html },
  { Div = unwrap_plain_div },
  { Para = captioned_image },
  {
    Table = align_numeric_columns,
    Image = size_image,
    Figure = label_caption,
  },
}
