-- 011 git sync (DESIGN §3b): each workspace may name one git repository (URL, branch, and
-- credentials that the gateway encrypts before they get here, like connection credentials).
-- Push writes the workspace's definitions as files in a commit on the branch; pull reads the
-- branch and creates new versions. `synced_commit` is the commit the workspace last pushed or
-- pulled: a push builds on it, so a branch that moved since is refused instead of overwritten.

create table app_public.git_repositories (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  workspace_id uuid not null,
  url text not null check (length(url) between 1 and 2048),
  branch text not null check (branch ~ '^[A-Za-z0-9._/-]{1,200}$'),
  -- iv ‖ tag ‖ ciphertext, and which key made it. Never selected into a response or a log.
  credentials bytea,
  credentials_key_id text,
  synced_commit text check (synced_commit ~ '^[0-9a-f]{40,64}$'),
  last_pushed_at timestamptz,
  last_pulled_at timestamptz,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  updated_by uuid references app_public.users (id) on delete set null,
  primary key (org_id, workspace_id),
  foreign key (org_id, workspace_id) references app_public.workspaces (org_id, id) on delete cascade
);
create trigger git_repositories_updated_at before update on app_public.git_repositories
  for each row execute function app_private.touch_updated_at();

alter table app_public.git_repositories enable row level security;
alter table app_public.git_repositories force row level security;
create policy staff_all on app_public.git_repositories for all
  using (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end))
  with check (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end));
-- Like everything else inside a workspace: only the workspace in use, when there is one.
create policy in_workspace on app_public.git_repositories as restrictive for all
  using ((select app_public.workspace_unrestricted()) or workspace_id = (select app_public.current_workspace_id()))
  with check ((select app_public.workspace_unrestricted()) or workspace_id = (select app_public.current_workspace_id()));
-- Writes need their permission in the database too: settings.manage, or in the workspace in
-- use the git permission of the operation (configuring writes the row; push and pull record
-- the commit they synced).
create policy permission_insert on app_public.git_repositories as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('settings.manage')) or (select app_private.has_project_permission('project.git.configure')));
create policy permission_update on app_public.git_repositories as restrictive for update to gateway_app
  using ((select app_private.has_permission('settings.manage')) or (select app_private.has_project_permission('project.git.configure'))
         or (select app_private.has_project_permission('project.git.push')) or (select app_private.has_project_permission('project.git.pull')))
  with check ((select app_private.has_permission('settings.manage')) or (select app_private.has_project_permission('project.git.configure'))
         or (select app_private.has_project_permission('project.git.push')) or (select app_private.has_project_permission('project.git.pull')));
create policy permission_delete on app_public.git_repositories as restrictive for delete to gateway_app
  using ((select app_private.has_permission('settings.manage')) or (select app_private.has_project_permission('project.git.configure')));
grant select, insert, update, delete on app_public.git_repositories to gateway_app;
