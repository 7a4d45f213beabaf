-- Category listing (one page of it): the product links of its cards, to be parsed by
-- `shop.product`, and the pagination's "next" link (never "previous"), parsed by this rule.
-- No items: products are extracted from their own pages.
--
-- Links are returned as found; the engine resolves and normalises them (fragment dropped,
-- query reduced to the target rule's `keep_query`) and dedups them, so "/p/x" and
-- "../p/x#reviews" end up as one job.

local M = {
    version = "shop-1",
    max_depth = 4,
    -- Only `page` tells listing pages apart; sort orders, utm_* and ref are noise.
    keep_query = { "page" },
}

-- The path of an absolute URL ("http://h/p/x?y" -> "/p/x"), or nil.
local function path_of(url)
    return url and string.match(url, "^%a[%w+.-]*://[^/?#]+(/[^?#]*)")
end

function M.parse(page, ctx)
    local grid = page:select_one(".product-grid")
    if grid == nil then
        error("category page without a product grid (.product-grid)")
    end
    local links = {}
    -- Every link of a card that leads to a product page: title links, "reviews" links...
    -- but not "save to wishlist" or "add to basket" links, which live elsewhere.
    for _, card in ipairs(grid:select(".product-card")) do
        for _, a in ipairs(card:select("a[href]")) do
            local href = a:attr("href")
            local path = path_of(page:urljoin(href))
            if path and string.match(path, "^/p/.") then
                links[#links + 1] = { url = href, rule = "shop.product" }
            end
        end
    end

    -- The next page, if any: rel="next" in the pagination block.
    local next_link = page:select_one('.pagination a[rel~="next"]')
    if next_link and next_link:attr("href") then
        links[#links + 1] = { url = next_link:attr("href"), rule = "shop.category" }
    end
    return { links = links }
end

return M
