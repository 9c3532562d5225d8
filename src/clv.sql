
-- ---------------------------------------------------------------------------
-- Customer lifetime value and churn risk.
-- ---------------------------------------------------------------------------

CREATE TABLE crm.customer_clv (
    customer_id            bigint PRIMARY KEY,
    p_alive                float8 NOT NULL CHECK (p_alive BETWEEN 0 AND 1),
    expected_purchases_90d float8 NOT NULL CHECK (expected_purchases_90d >= 0),
    expected_spend         float8,
    clv                    float8,
    churn_risk             boolean NOT NULL,
    scored_at              timestamptz NOT NULL
);
COMMENT ON TABLE crm.customer_clv IS 'result of the last CLV scoring: one row per customer with purchases';
COMMENT ON COLUMN crm.customer_clv.customer_id IS 'the customer';
COMMENT ON COLUMN crm.customer_clv.p_alive IS 'probability that the customer is still active';
COMMENT ON COLUMN crm.customer_clv.expected_purchases_90d IS 'expected number of purchases in the next 90 days';
COMMENT ON COLUMN crm.customer_clv.expected_spend IS 'expected spend per future purchase';
COMMENT ON COLUMN crm.customer_clv.clv IS 'expected discounted value of future purchases over the horizon';
COMMENT ON COLUMN crm.customer_clv.churn_risk IS 'true when p_alive is below the churn threshold';
COMMENT ON COLUMN crm.customer_clv.scored_at IS 'the calibration end the scores were computed for';

SELECT pg_catalog.pg_extension_config_dump('crm.customer_clv', '');
