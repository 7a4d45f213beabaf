-- Shop home page: the links of the category menu, each to be parsed by `shop.category`.
-- Everything else on the page (main nav, hero promo, account and basket links, footer)
-- is ignored: only `/c/<name>` links inside the category menu are returned.

local M = { version = "shop-1" }

-- The path of an absolute URL ("http://h/c/x?y" -> "/c/x"), or nil.
local function path_of(url)
    return url and string.match(url, "^%a[%w+.-]*://[^/?#]+(/[^?#]*)")
end

function M.parse(page, ctx)
    local menu = page:select_one(".category-nav")
    if menu == nil then
        error("home page without a category menu (.category-nav)")
    end
    local links, seen = {}, {}
    for _, a in ipairs(menu:select("a[href]")) do
        local url = page:urljoin(a:attr("href"))
        local path = path_of(url)
        -- A category is exactly one segment under /c/.
        if path and string.match(path, "^/c/[^/]+$") and not seen[url] then
            seen[url] = true
            links[#links + 1] = { url = url, rule = "shop.category" }
        end
    end
    if #links == 0 then
        error("home page without category links")
    end
    return { links = links }
end

return M
