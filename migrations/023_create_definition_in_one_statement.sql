-- 023 A definition and its version 1 in one round trip (issue 10).
--
-- Why: createConnector / createWorkflow / createAgent / createTool sent two INSERTs, the
-- definition and then its version 1, one round trip each, while the request held its pooled
-- connection. With the transaction's opening round trip and the COMMIT (which carries the audit
-- event), a create took four round trips where the practical limit takes one, and under load a
-- round trip is mostly waiting for a core.
--
-- Not a data-modifying CTE: the version's restrictive workspace policy (010) looks its
-- definition up, and rows a CTE inserts are invisible to the rest of its statement. The
-- statements of a function run one after another and see each other's rows.
--
-- SECURITY INVOKER (the default): both inserts are checked against the caller's own grants and
-- policies (organization, workflows.create / connectors.create …, workspace), exactly as when
-- they were sent one by one, and fail with the same constraint names (definitions_name_unique,
-- definitions_org_id_workspace_id_fkey) for the gateway's error mapping. search_path is pinned.
create function app_private.create_definition(
  p_kind text,
  p_name text,
  p_description text,
  p_auth_kind text,
  p_logo_url text,
  p_actor uuid,
  p_workspace_id uuid,
  p_definition jsonb
) returns app_public.definitions
language plpgsql volatile security invoker set search_path = pg_catalog, pg_temp as $$
declare
  created app_public.definitions;
begin
  insert into app_public.definitions (org_id, kind, name, description, auth_kind, logo_url, created_by, updated_by, workspace_id)
  values (app_public.current_org_id(), p_kind, p_name, p_description, p_auth_kind, p_logo_url, p_actor, p_actor, p_workspace_id)
  returning * into created;
  insert into app_public.definition_versions (org_id, definition_id, version, definition, created_by)
  values (created.org_id, created.id, 1, p_definition, p_actor);
  return created;
end $$;
revoke all on function app_private.create_definition(text, text, text, text, text, uuid, uuid, jsonb) from public;
grant execute on function app_private.create_definition(text, text, text, text, text, uuid, uuid, jsonb) to gateway_app;
