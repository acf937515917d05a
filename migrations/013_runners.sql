-- 013 runners: the other half of executions. A runner key (a service principal of kind
-- 'runner', migration 012) claims queued executions under a lease, reports progress and the
-- outcome. The lease is what makes a dead runner harmless: once it expires, another runner may
-- claim the execution again (a new lease id), and the dead runner's late reports no longer match.
--
-- Claims use `for update skip locked` on the indexes below, so concurrent runners never claim
-- one execution twice and never wait for each other.

alter table app_public.executions
  -- The runner holding (or last holding) the execution. SET NULL (claimed_by) only: the
  -- execution outlives a deleted principal.
  add column claimed_by uuid,
  -- The current lease: reports must name it; a re-claim replaces it.
  add column lease_id uuid,
  add column lease_expires_at timestamptz,
  add column progress jsonb,
  add column attempts int not null default 0 check (attempts >= 0),
  add foreign key (org_id, claimed_by) references app_public.service_principals (org_id, id) on delete set null (claimed_by),
  -- A running execution always has its lease; a finished one none.
  add constraint executions_lease_check check ((status = 'running') = (lease_id is not null and lease_expires_at is not null));

-- What a claim scans: the oldest queued executions, and running ones whose lease ran out.
create index executions_claimable on app_public.executions (org_id, created_at, id) where status = 'queued';
create index executions_leased on app_public.executions (org_id, lease_expires_at) where status = 'running';
