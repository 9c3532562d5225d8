-- Tour: customer types, identities, duplicates and merging
SET search_path = crm, public;
\pset null '-'

\echo
\echo '== 1. Validated customer types'
\echo 'Emails are validated and normalised; phones are parsed from what people type into E.164:'
SELECT 'Anna.Schmidt@Example.COM'::email AS email,
       email_domain('Anna.Schmidt@Example.COM') AS domain,
       '+86 138-0013-8000'::phone AS phone_cn,
       '0044 20 7946 0958'::phone AS phone_gb,
       phone_format('+86 138-0013-8000', 'international') AS international;
SET crm.default_country = 'CN';
SELECT '010-1234 5678'::phone AS national_beijing, phone_format('010-1234 5678', 'national') AS national_style;
\echo 'Bad input is refused with SQLSTATE 22P02, a detail and a hint:'
\set ON_ERROR_STOP 0
SELECT 'wang.wei@qq'::email;
SELECT '138 0013'::phone;
\set ON_ERROR_STOP 1

\echo
\echo '== 2. One customer, one identity across channels'
SELECT i.channel, i.external_id, resolve_customer(i.channel, i.external_id) AS customer_id, c.name
  FROM customer_identity i JOIN customer c ON c.id = i.customer_id
 ORDER BY i.customer_id LIMIT 4;

\echo
\echo '== 3. Probable duplicates (phone, email, similar name with same city or birth date)'
SELECT count(*) AS candidate_pairs, count(*) FILTER (WHERE score >= 0.6) AS strong_pairs FROM find_duplicates(0.9);
SELECT d.customer_a, a.name AS name_a, d.customer_b, b.name AS name_b, d.score, d.reasons
  FROM find_duplicates(0.9) d JOIN customer a ON a.id = d.customer_a JOIN customer b ON b.id = d.customer_b
 ORDER BY d.score DESC, d.customer_a LIMIT 6;

\echo
\echo '== 4. Merging the strongest pair: every purchase, interaction and identity moves, nothing is lost'
SELECT customer_a AS keep, customer_b AS duplicate FROM find_duplicates(0.9) ORDER BY score DESC, customer_a LIMIT 1 \gset
SELECT (SELECT count(*) FROM purchase) AS purchases_before, (SELECT sum(amount) FROM purchase) AS revenue_before,
       (SELECT count(*) FROM purchase WHERE customer_id IN (:keep, :duplicate)) AS pair_purchases;
SELECT merge_customers(:keep, :duplicate) AS merge_result;
SELECT (SELECT count(*) FROM purchase) AS purchases_after, (SELECT sum(amount) FROM purchase) AS revenue_after,
       (SELECT count(*) FROM purchase WHERE customer_id = :keep) AS kept_customer_purchases;
SELECT kept_id, merged_id, merged_by, filled FROM customer_merge ORDER BY id DESC LIMIT 1;
RESET crm.default_country;
