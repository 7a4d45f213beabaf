-- News listing (one page of the stream): the headline link of each teaser, to be parsed by
-- `news.article`, and the "older stories" link (rel="next"), parsed by this rule. Sidebars
-- ("most read"), comment-count links and "newer stories" (rel="prev") are not returned.

local M = {
    version = "news-1",
    -- `page` tells listing pages apart; tracking parameters (utm_*...) are noise.
    keep_query = { "page" },
}

function M.parse(page, ctx)
    local stream = page:select_one("main .stream")
    if stream == nil then
        error("news listing without a story stream (main .stream)")
    end
    local links = {}
    for _, a in ipairs(stream:select(".teaser h2 a[href]")) do
        links[#links + 1] = { url = a:attr("href"), rule = "news.article" }
    end
    local next_link = page:select_one('.pagination a[rel~="next"]')
    if next_link and next_link:attr("href") then
        links[#links + 1] = { url = next_link:attr("href"), rule = "news.listing" }
    end
    return { links = links }
end

-- Called with each normalised absolute URL parse returned (not with the page's URL, which
-- the hook does not see). It replaces the default "same host only" check, so keep this
-- strict: only the news section of the site, over http(s).
-- Follow only links to the news section of the site the page is on.
local function host_and_path(url)
    return string.match(url, "^https?://([^/?#]+)(/?[^?#]*)")
end

function M.follow(url, ctx)
    local host, path = host_and_path(url)
    local page_host = host_and_path(ctx.url or "")
    if host == nil or host ~= page_host then
        return false
    end
    return path == "/news" or string.sub(path, 1, 6) == "/news/"
end

return M
