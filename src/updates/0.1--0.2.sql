-- crm: upgrade from 0.1 to 0.2.
-- This file is assembled by make from src/updates/0.1--0.2.sql and the modules
-- new in 0.2 (SQL_NEW in the Makefile); edit those instead.

\echo Use "ALTER EXTENSION crm UPDATE TO '0.2'" to load this file. \quit

-- Changes to objects that 0.1 created go here, before the new modules.
