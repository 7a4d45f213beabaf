-- A tiny rule for the demo: turns the quotes a job carries in its meta into items.
local prices = require("lib.prices")

return {
    version = "demo-1",
    parse = function(page)
        local items = {}
        for _, quote in ipairs(page.meta.quotes or {}) do
            items[#items + 1] = {
                name = quote.name,
                price = prices.amount(quote.price),
                currency = prices.currency(quote.price),
            }
        end
        return { items = items }
    end,
}
