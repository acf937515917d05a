-- 017 (issue 10, speed): the last lists that did not read O(page) rows get an index in their
-- order, each checked by test/db/list-plans.test.ts (rows and buffers read, 20,000 rows per table):
--  * Query.workspaces, Query.projectRoles, Query.projectMembers were unpaged and sorted everything
--    they could see. They now read a bounded first page (500) in index order. Project members are
--    listed people first, then teams, each in the order they were added: by name they would sort
--    the whole workspace (names live in users and teams; no index here can order by them).
--  * Query.apiKeys' environment and status filters were conditions over the newest-first index:
--    a rare value read until the page filled (the whole organization's keys). Environment gets an
--    index of its own; revoked keys and keys with an expiry get partial indexes in the list's order
--    (active keys — the usual case — keep the newest-first index: the ones it skips are the rare
--    revoked or expired ones).
-- Only indexes: no policy, grant or row changes. Orders use expressions (lower(name),
-- team_id is not null) only as index columns that provide the order, never as conditions, so RLS
-- (only leakproof conditions become index conditions) does not stand in the way.

create index workspaces_listed on app_public.workspaces (org_id, is_default desc, lower(name), id);

create index project_roles_listed on app_public.project_roles (org_id, lower(name), id);

create index project_members_listed
  on app_public.project_members (org_id, workspace_id, (team_id is not null), created_at, id);

create index service_principals_environment
  on app_public.service_principals (org_id, environment, created_at desc, id desc);
create index service_principals_revoked
  on app_public.service_principals (org_id, created_at desc, id desc) where revoked_at is not null;
create index service_principals_expiring
  on app_public.service_principals (org_id, created_at desc, id desc) where revoked_at is null and expires_at is not null;
