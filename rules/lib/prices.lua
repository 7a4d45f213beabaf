-- Price parsing shared by rule modules: "1,299.00 €", "$ 12.50", "1.299,00 EUR".
local M = {}

local SYMBOLS = { ["€"] = "EUR", ["$"] = "USD", ["£"] = "GBP", ["¥"] = "JPY" }

-- Three capitals that are not currencies, though they sit next to prices: "incl. VAT".
local NOT_CURRENCY = { VAT = true, TAX = true, GST = true, HST = true, PST = true, QST = true }

-- Returns the amount as a number, or nil when the text holds no number.
function M.amount(text)
    if text == nil then
        return nil
    end
    -- No-break spaces (U+00A0, U+202F, as in "1 299,00 €" read from an attribute or the
    -- raw body) group thousands like a plain space.
    text = string.gsub(string.gsub(text, "\u{a0}", " "), "\u{202f}", " ")
    local digits = string.match(text, "[%d][%d%.,' ]*")
    if digits == nil then
        return nil
    end
    digits = string.gsub(digits, "[' ]", "")
    -- A dot or comma that ends the number ends the sentence: "costs $ 12.50."
    digits = string.gsub(digits, "[%.,]+$", "")
    local last_dot = string.find(digits, "%.[^%.]*$")
    local last_comma = string.find(digits, ",[^,]*$")
    if last_comma and (not last_dot or last_comma > last_dot) then
        -- "1.299,00": dots group thousands, the comma is decimal (unless it groups: "1,299")
        if #digits - last_comma == 3 and not last_dot then
            digits = string.gsub(digits, ",", "")
        else
            digits = string.gsub(string.gsub(digits, "%.", ""), ",", ".")
        end
    else
        digits = string.gsub(digits, ",", "")
    end
    return tonumber(digits)
end

-- Returns an ISO currency code found in the text, or nil.
function M.currency(text)
    if text == nil then
        return nil
    end
    for symbol, code in pairs(SYMBOLS) do
        if string.find(text, symbol, 1, true) then
            return code
        end
    end
    for code in string.gmatch(text, "%f[%a](%u%u%u)%f[%A]") do
        if not NOT_CURRENCY[code] then
            return code
        end
    end
    return nil
end

return M
