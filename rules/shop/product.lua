-- Product page: one item with title, price (what is charged: the sale price when on sale),
-- list_price (the crossed-out original price, only when on sale), currency (ISO code), sku,
-- rating (number or nil), availability ("in_stock" / "out_of_stock") and specs (spec table
-- as name -> value). A page without a title or a sku raises an error (dead-lettered).
-- No links: the crawl reaches products from the category pages only.

local prices = require("lib.prices")

local M = {
    version = "shop-1",
    -- Query parameters never identify a product here (ref=, utm_*...).
    keep_query = {},
}

-- The trimmed text of the first element matching `css` under `scope`, or nil if there is
-- none or it is empty.
local function text_of(scope, css)
    local el = scope:select_one(css)
    if el == nil then
        return nil
    end
    local text = el:text()
    return text ~= "" and text or nil
end

-- Price text -> amount, currency; errors when the text holds no amount.
local function price(text, what)
    local amount = prices.amount(text)
    if amount == nil then
        error("product page with an unreadable " .. what .. ": " .. tostring(text))
    end
    return amount, prices.currency(text)
end

-- Stars from the rating block: the data-rating attribute, or "4.5 out of 5" in its title.
local function rating(product)
    local block = product:select_one(".rating")
    if block == nil then
        return nil
    end
    local stars = block:select_one("[data-rating]")
    local value = stars and tonumber(stars:attr("data-rating"))
    if value == nil then
        value = tonumber(string.match(block:attr("title") or "", "([%d%.]+) out of"))
    end
    return value
end

-- "in_stock" / "out_of_stock" from the stock line's class or wording, nil if unknown.
local function availability(product)
    local stock = product:select_one(".stock")
    if stock == nil then
        return nil
    end
    local class = " " .. (stock:attr("class") or "") .. " "
    local text = string.lower(stock:text())
    if string.find(class, " stock--out ", 1, true) or string.find(text, "out of stock", 1, true)
        or string.find(text, "sold out", 1, true) then
        return "out_of_stock"
    end
    if string.find(class, " stock--in ", 1, true) or string.find(text, "in stock", 1, true) then
        return "in_stock"
    end
    return nil
end

function M.parse(page, ctx)
    -- Scope to the main product: "You may also like" cards carry prices and titles too.
    local product = page:select_one(".product-page .product")
    if product == nil then
        error("not a product page (no .product block): " .. page.url)
    end
    local title = text_of(product, "h1.product-title")
    if title == nil then
        error("product page without title: " .. page.url)
    end
    local sku = text_of(product, ".product-meta .sku")
    if sku == nil then
        error("product page without sku: " .. page.url)
    end

    -- On sale: a sale price and the crossed-out list price; otherwise one plain price.
    local box = product:select_one(".price-box")
    if box == nil then
        error("product page without a price box: " .. page.url)
    end
    local sale_text = text_of(box, ".price--sale")
    local amount, currency, list_price
    if sale_text then
        amount, currency = price(sale_text, "sale price")
        list_price = price(text_of(box, ".price--list"), "list price")
    else
        amount, currency = price(text_of(box, ".price"), "price")
    end

    local specs = {}
    for _, row in ipairs(page:select("table.specs tr")) do
        local name, value = text_of(row, "th"), text_of(row, "td")
        if name and value then
            specs[name] = value
        end
    end

    return {
        items = {
            {
                title = title,
                price = amount,
                list_price = list_price,
                currency = currency,
                sku = sku,
                rating = rating(product),
                availability = availability(product),
                specs = specs,
            },
        },
    }
end

return M
