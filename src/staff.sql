
-- ---------------------------------------------------------------------------
-- Staff and teams: who works with customers.  A staff member's login is the
-- PostgreSQL role name written in crm.customer.owner, crm.complaint.assignee,
-- crm.interaction.staff and the owner columns of later modules.
-- ---------------------------------------------------------------------------

CREATE TABLE crm.team (
    name        text PRIMARY KEY CHECK (btrim(name) <> ''),
    description text,
    region      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE crm.team IS 'sales, service and marketing teams';
COMMENT ON COLUMN crm.team.name IS 'team name';
COMMENT ON COLUMN crm.team.description IS 'what the team does';
COMMENT ON COLUMN crm.team.region IS 'region the team covers (NULL: all)';
COMMENT ON COLUMN crm.team.created_at IS 'when the team was created';

CREATE TABLE crm.staff (
    login        text PRIMARY KEY CHECK (btrim(login) <> ''),
    display_name text NOT NULL CHECK (btrim(display_name) <> ''),
    team         text REFERENCES crm.team (name) ON UPDATE CASCADE,
    is_manager   boolean NOT NULL DEFAULT false,
    active       boolean NOT NULL DEFAULT true,
    region       text,
    email        crm.email,
    phone        crm.phone,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_team_idx ON crm.staff (team) WHERE active;
COMMENT ON TABLE crm.staff IS 'staff members; login is the database role name used in owner and assignee columns';
COMMENT ON COLUMN crm.staff.login IS 'database role name of the staff member (the value of current_user when they work)';
COMMENT ON COLUMN crm.staff.display_name IS 'name shown to colleagues and customers';
COMMENT ON COLUMN crm.staff.team IS 'team the member belongs to';
COMMENT ON COLUMN crm.staff.is_manager IS 'true for the manager(s) of the team';
COMMENT ON COLUMN crm.staff.active IS 'false once the member has left or is away: never assigned new work';
COMMENT ON COLUMN crm.staff.region IS 'region the member works in';
COMMENT ON COLUMN crm.staff.email IS 'work email';
COMMENT ON COLUMN crm.staff.phone IS 'work phone';
COMMENT ON COLUMN crm.staff.created_at IS 'when the member was added';

SELECT pg_catalog.pg_extension_config_dump('crm.team', '');
SELECT pg_catalog.pg_extension_config_dump('crm.staff', '');
