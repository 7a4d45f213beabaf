-- News article: one item with headline, author, published (the ISO 8601 value of the
-- header's <time datetime>, as written), tags (list of topic names), summary (the first
-- paragraph of the body) and words (word count of the body text). No links.
-- An article without a headline or a publication date raises an error (dead-lettered).

local M = {
    version = "news-1",
    keep_query = {},
}

-- Body blocks that count as text. Only direct children of the body: ad slots (with their
-- "Advertisement" label and <script>), figures and embeds are left out, and
-- element:text() would include the source of any <script> inside a block.
local BODY_BLOCKS = table.concat({
    ".story-body > p", ".story-body > h2", ".story-body > h3",
    ".story-body > blockquote", ".story-body > ul", ".story-body > ol",
}, ", ")

-- Words in `text`: runs of non-space characters with at least one letter or digit
-- (so a lone dash is not a word; "10-hour" and "€240m" are one word each).
local function count_words(text)
    local n = 0
    for word in string.gmatch(text, "%S+") do
        if string.find(word, "%w") then
            n = n + 1
        end
    end
    return n
end

local function text_of(scope, css)
    local el = scope:select_one(css)
    local text = el and el:text()
    return (text ~= nil and text ~= "") and text or nil
end

function M.parse(page, ctx)
    local story = page:select_one("article.story")
    if story == nil then
        error("not an article page (no article.story): " .. page.url)
    end
    local headline = text_of(story, "h1.headline") or text_of(story, "h1")
    if headline == nil then
        error("article without headline: " .. page.url)
    end

    -- The byline's author link or name; the site-wide <meta name="author"> is the paper.
    local author = text_of(story, '.byline [rel~="author"]') or text_of(story, ".byline .author")

    -- Published, not "updated": the header may carry both.
    local time = story:select_one(".story-header time.published[datetime]")
        or story:select_one(".story-header time[datetime]")
    local published = time and time:attr("datetime")
    if published == nil or not string.match(published, "^%d%d%d%d%-%d%d%-%d%d") then
        error("article without an ISO publication date: " .. page.url)
    end

    local tags = {}
    for _, a in ipairs(story:select(".tags li")) do
        local name = a:text()
        if name ~= "" then
            tags[#tags + 1] = name
        end
    end

    local summary, words = nil, 0
    for _, block in ipairs(story:select(BODY_BLOCKS)) do
        local text = block:text()
        if summary == nil and block.name == "p" and text ~= "" then
            summary = text
        end
        words = words + count_words(text)
    end

    return {
        items = {
            {
                headline = headline,
                author = author,
                published = published,
                -- NB: an empty Lua table converts to a JSON object ({}), not [].
                tags = tags,
                summary = summary,
                words = words,
            },
        },
    }
end

return M
