--[[
report.lua: pandoc Lua filter used by helpers.render.pdf.render_pdf (Markdown exported by nbconvert
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
* Raw inline `<sup>...</sup>` (the reference marks after numbers) becomes a real superscript.
* A lone image followed by a paragraph starting "**Figure N.**" becomes one figure with that
  paragraph as its caption (Typst keeps the two together; no Typst numbering, the text has it).
  Likewise a paragraph starting "**Table N.**" just before or after a table without a caption
  becomes the table's caption.
* Short tables (at most 16 rows and 1,200 characters) are kept on one page with their caption.
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
  -- HTML output (the Quarto HTML edition) keeps the report's own HTML tables and figures as they are
  if not el.format:match("^html") or FORMAT:match("html") then
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

-- <sup>...</sup> arrives as RawInline "<sup>", inlines, RawInline "</sup>": wrap them in Superscript.
local function is_raw_tag(el, tag)
  return el.t == "RawInline" and el.format:match("^html") and el.text:lower():match("^" .. tag .. "$")
end

local function superscripts(inlines)
  local out, i, changed = pandoc.List(), 1, false
  while i <= #inlines do
    local el = inlines[i]
    if is_raw_tag(el, "<sup>") then
      local j = i + 1
      while j <= #inlines and not is_raw_tag(inlines[j], "</sup>") do
        j = j + 1
      end
      if j <= #inlines then
        local inner = pandoc.List()
        for k = i + 1, j - 1 do
          inner:insert(inlines[k])
        end
        out:insert(pandoc.Superscript(inner))
        i = j + 1
        changed = true
      else
        out:insert(el)
        i = i + 1
      end
    else
      out:insert(el)
      i = i + 1
    end
  end
  return changed and out or nil
end

-- "**Figure N.** ..." / "**Table N.** ...": the label words of a caption paragraph (or nil)
local function caption_label(block, words)
  if not block or block.t ~= "Para" or #block.content < 1 or block.content[1].t ~= "Strong" then
    return nil
  end
  local label = pandoc.utils.stringify(block.content[1])
  for _, word in ipairs(words) do
    if label:match("^" .. word .. "%s+[%w][%w%.%-]*[%.:]$") then
      return label
    end
  end
  return nil
end

local FIGURE_WORDS = { "Figure", "Fig%.", "Map", "Chart", "Box" }

local function lone_image(block)
  if block and block.t == "Para" and #block.content == 1 and block.content[1].t == "Image" then
    return block.content[1]
  end
  return nil
end

local function table_without_caption(block)
  return block and block.t == "Table" and #block.caption.long == 0
end

-- Join image + "**Figure N.**" paragraph into a Figure; put "**Table N.**" paragraphs into tables.
local function join_captions(blocks)
  local out, i, changed = pandoc.List(), 1, false
  while i <= #blocks do
    local b, nxt = blocks[i], blocks[i + 1]
    local img = lone_image(b)
    if img and caption_label(nxt, FIGURE_WORDS) then
      img.caption = {}
      out:insert(pandoc.Figure(pandoc.Plain({ img }), { pandoc.Plain(nxt.content) }))
      i = i + 2
      changed = true
    elseif caption_label(b, { "Table" }) and table_without_caption(nxt) then
      nxt.caption.long = { pandoc.Plain(b.content) }
      out:insert(nxt)
      i = i + 2
      changed = true
    elseif table_without_caption(b) and caption_label(nxt, { "Table" })
        and not (blocks[i + 2] and table_without_caption(blocks[i + 2])) then
      b.caption.long = { pandoc.Plain(nxt.content) }
      out:insert(b)
      i = i + 2
      changed = true
    else
      out:insert(b)
      i = i + 1
    end
  end
  return changed and out or nil
end

-- A short table (and its caption) is kept on one page; long ones break, repeating their header.
-- "Short": few rows and little text (a few tall rows of prose could exceed a page and overflow).
local KEEP_ROWS, KEEP_CHARS = 16, 1200

local function keep_short_table(tbl)
  local rows = #tbl.head.rows
  local chars = utf8.len(pandoc.utils.stringify(tbl.caption.long)) or 0
  for _, body in ipairs(tbl.bodies) do
    rows = rows + #body.body
    for _, row in ipairs(body.body) do
      for _, cell in ipairs(row.cells) do
        chars = chars + (utf8.len(pandoc.utils.stringify(cell.contents)) or 0)
      end
    end
  end
  if rows > KEEP_ROWS or chars > KEEP_CHARS then
    return nil
  end
  return {
    pandoc.RawBlock("typst", "#block(breakable: false)["),
    tbl,
    pandoc.RawBlock("typst", "]"),
  }
end

-- Under Quarto (Typst output) a table without a cross-reference label loses its caption: set the caption
-- as a paragraph kept on the same page as the table instead (the default PDF needs none of this).
local function quarto_table_caption(tbl)
  if quarto == nil or not FORMAT:match("typst") or #tbl.caption.long == 0 then
    return nil
  end
  local caption = pandoc.utils.blocks_to_inlines(tbl.caption.long)
  tbl.caption.long = {}
  return {
    pandoc.RawBlock("typst", "#block(sticky: true, width: 100%, below: 0.6em)[#set text(size: 9pt)\n#set par(justify: false)\n"),
    pandoc.Para(caption),
    pandoc.RawBlock("typst", "]"),
    tbl,
  }
end

return {
  { Meta = read_widths },
  { RawBlock = reread_html },
  { Div = unwrap_plain_div },
  { Inlines = superscripts },
  { Blocks = join_captions },
  { Para = captioned_image },
  { Table = quarto_table_caption },
  { Table = keep_short_table },
  {
    Table = align_numeric_columns,
    Image = size_image,
    Figure = label_caption,
  },
}
