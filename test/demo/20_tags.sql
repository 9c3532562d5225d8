-- Tour stop: customer tags (crm.tagset), by hand and by rules, and a tag query.
\set QUIET on
SET search_path = crm, public;
\pset footer off
\set QUIET off

\echo
\echo '== Tags: label customers by hand'
SELECT c.id, c.name, crm.tag(c.id, 'VIP', 'pref:oolong', ' High Intent ') AS tags
  FROM (SELECT id, name FROM crm.customer ORDER BY id LIMIT 3) c;
-- Many customers at once: every customer gets a region: label.
UPDATE crm.customer SET tags = tags + ('region:' || region)
 WHERE btrim(region) <> '' AND region !~ '[,{}"\\]';
SELECT id, crm.untag(id, 'pref:oolong') AS after_untag FROM crm.customer ORDER BY id LIMIT 1;

\echo
\echo '== Tags by rules: each rule is a boolean expression over crm.customer_metrics'
INSERT INTO crm.tag_rule (name, label, predicate, description) VALUES
    ('big_spender', 'big spender',
     'spend_12m > (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY spend_12m) FROM crm.customer_metrics)',
     'top 10% by spend in the last 12 months'),
    ('lapsed', 'needs nurturing', 'purchase_count > 0 AND days_since_last_purchase > 180',
     'bought before, but not in the last six months'),
    ('loyal', 'loyal', 'purchases_12m >= 12', 'at least one purchase a month on average'),
    ('young_digital', 'segment:young digital', 'age < 30 AND app_spend + mini_program_spend + online_spend > store_spend',
     'under 30 and buying mostly online');
SELECT name, label, predicate FROM crm.tag_rule ORDER BY name;
SELECT * FROM crm.apply_tag_rules();
\echo 'A rule that refers to an unknown column is rejected when it is saved:'
\set ON_ERROR_STOP 0
\set SHOW_CONTEXT never
INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('typo', 'typo', 'total_spent > 100');
\set ON_ERROR_STOP 1
\set SHOW_CONTEXT errors

\echo
\echo '== The most common labels'
SELECT label, count(*) AS customers
  FROM crm.customer, crm.unnest(tags) AS label
 GROUP BY label ORDER BY customers DESC, label LIMIT 10;

\echo
\echo '== A tag query: big spenders who are loyal or VIP, not lapsed'
\echo '(ANALYZE gives the planner the frequency of each label.)'
ANALYZE crm.customer;
EXPLAIN (COSTS OFF)
SELECT id, name, tags FROM crm.customer
 WHERE tags @> '{big spender}' AND tags && '{loyal,vip}' AND NOT tags ? 'needs nurturing';
SELECT id, name, tags FROM crm.customer
 WHERE tags @> '{big spender}' AND tags && '{loyal,vip}' AND NOT tags ? 'needs nurturing'
 ORDER BY id LIMIT 5;
SELECT count(*) AS customers, crm.tag_union(crm.tags_in_namespace(tags, 'region')) AS their_regions
  FROM crm.customer
 WHERE tags @> '{big spender}' AND tags && '{loyal,vip}' AND NOT tags ? 'needs nurturing';
