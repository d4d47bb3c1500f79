-- The default rates live in the code (chargehook.providers.rules.DEFAULT_RATES), one home only:
-- every insert names its rates.
ALTER TABLE providers
    ALTER COLUMN commission_rate DROP DEFAULT,
    ALTER COLUMN tax_rate DROP DEFAULT;
