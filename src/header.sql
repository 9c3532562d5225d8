-- crm: customer relationship management inside PostgreSQL.
-- This file is assembled by make from src/*.sql; edit those instead.

\echo Use "CREATE EXTENSION crm" to load this file. \quit
