-- 020 (issue 10, "a page costs O(page)"): the plain lists capped at 500 rows (teams, roles,
-- workspaces, project roles, project members, join requests) get Relay connections beside them,
-- paged by keyset. A keyset page resumes after its cursor with `(key, id) > ($1, $2)`, and under
-- RLS only a leakproof condition can become an index condition (policies filter first):
-- `lower(name)` is not leakproof, so the 007/017 indexes on `lower(name)` give those lists their
-- order but not a resumable start (a page after the 10th would read the 10 before it). As for
-- definitions in 007, the by-name lists get a stored sort key, `name_key = lower(name)` (a
-- generated column: no trigger of these tables compares whole rows, which is why customers'
-- key is a plain column instead), and their indexes move onto it. The plain lists order by the
-- same key (the same order), so the old indexes go.
--
-- Orders (test/db/list-plans.test.ts checks each reads O(page) rows, first/last, after/before):
--  * teams: name_key, id;
--  * roles: system roles in matrix order (a handful per organization), then custom roles by
--    name_key, id (partial index: custom roles only);
--  * workspaces: the default one, then the others by name_key, id — one index serves both parts
--    (`is_default` is an equality in each);
--  * project roles: the four system ones (held in code), then custom ones by name_key, id;
--  * project members: people then teams, each by created_at, id — index project_members_listed
--    (017) already serves both parts (`(team_id is not null) is false/true` matches its column);
--  * join requests: newest first per status — index join_requests_recent (007).
-- Only columns derived from existing ones and indexes: no policy, grant or row changes.

alter table app_public.teams add column name_key text generated always as (lower(name)) stored;
create index teams_name_key_order on app_public.teams (org_id, name_key, id);
drop index app_public.teams_name_order;

alter table app_public.roles add column name_key text generated always as (lower(name)) stored;
create index roles_custom_name_key_order on app_public.roles (org_id, name_key, id) where system_key is null;
drop index app_public.roles_custom_name_order;

alter table app_public.workspaces add column name_key text generated always as (lower(name)) stored;
create index workspaces_name_key_listed on app_public.workspaces (org_id, is_default desc, name_key, id);
drop index app_public.workspaces_listed;

alter table app_public.project_roles add column name_key text generated always as (lower(name)) stored;
create index project_roles_name_key_order on app_public.project_roles (org_id, name_key, id);
drop index app_public.project_roles_listed;
