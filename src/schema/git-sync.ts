/**
 * Git sync of the workspace in use (X-Workspace-Id): its repository (project.git.configure),
 * push (project.git.push) and pull (project.git.pull). Every operation is audited; credentials
 * are an input only (write-only), encrypted before they reach the database.
 */
import type { Context } from '../context.js';
import {
  configureRepository,
  loadRepository,
  pullWorkspace,
  pushWorkspace,
  type GitRepositoryRow,
  type PulledDefinition,
  type PullResult,
  type PushResult,
} from '../domain/git-sync.js';
import { optionalText } from '../domain/validation.js';
import { notFound } from '../errors.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { readOrMutationResult } from '../authz/scopes.js';
import { auditAs, userIdOf } from './caller.js';

function workspaceOf(ctx: Context) {
  if (!ctx.workspace) throw new Error('unreachable: project permissions are held only in a workspace');
  return ctx.workspace;
}

const GitRepositoryRef = builder.objectRef<GitRepositoryRow>('GitRepository').implement({
  description: 'The git repository a workspace syncs with. Its credentials are write-only: no field returns them.',
  authScopes: readOrMutationResult({ projectPermission: 'project.git.configure' }),
  fields: (t) => ({
    url: t.exposeString('url'),
    branch: t.exposeString('branch'),
    hasCredentials: t.exposeBoolean('has_credentials'),
    syncedCommit: t.exposeString('synced_commit', {
      nullable: true,
      description: 'The commit this workspace last pushed or pulled; a push builds on it.',
    }),
    lastPushedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.last_pushed_at }),
    lastPulledAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.last_pulled_at }),
    updatedAt: t.field({ type: 'DateTime', resolve: (r) => r.updated_at }),
  }),
});

const PushResultRef = builder.objectRef<PushResult>('GitPushResult').implement({
  authScopes: readOrMutationResult({ projectPermission: 'project.git.push' }),
  fields: (t) => ({
    commit: t.exposeString('commit', {
      nullable: true,
      description: 'The new commit, or the unchanged head when nothing changed.',
    }),
    changed: t.exposeBoolean('changed', {
      description: 'False when the branch already held exactly these files (no commit made).',
    }),
    files: t.stringList({
      description: 'The files the workspace wrote, e.g. workflows/onboarding.json.',
      resolve: (r) => r.files,
    }),
  }),
});

const DefinitionKindEnum = builder.enumType('DefinitionKind', {
  values: {
    CONNECTOR: { value: 'connector' },
    WORKFLOW: { value: 'workflow' },
    AGENT: { value: 'agent' },
    TOOL: { value: 'tool' },
  } as const,
});

const PulledDefinitionRef = builder.objectRef<PulledDefinition>('GitPulledDefinition').implement({
  authScopes: readOrMutationResult({ projectPermission: 'project.git.pull' }),
  fields: (t) => ({
    path: t.exposeString('path'),
    kind: t.field({ type: DefinitionKindEnum, resolve: (d) => d.kind }),
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    version: t.exposeInt('version', { description: 'Its version after the pull.' }),
  }),
});

const PullResultRef = builder.objectRef<PullResult>('GitPullResult').implement({
  description:
    'What a pull did. A pull with a bad file changes nothing: it fails with BAD_USER_INPUT and `extensions.refused` ([{ path, reason }]).',
  authScopes: readOrMutationResult({ projectPermission: 'project.git.pull' }),
  fields: (t) => ({
    commit: t.exposeString('commit'),
    added: t.field({ type: [PulledDefinitionRef], resolve: (r) => r.added }),
    updated: t.field({
      type: [PulledDefinitionRef],
      description: 'Changed definitions get a new version.',
      resolve: (r) => r.updated,
    }),
    unchanged: t.field({ type: [PulledDefinitionRef], resolve: (r) => r.unchanged }),
  }),
});

builder.queryField('gitRepository', (t) =>
  t.field({
    type: GitRepositoryRef,
    nullable: true,
    description: 'The repository of the workspace in use; null when none is configured.',
    authScopes: { projectPermission: 'project.git.configure' },
    audit: auditAs('git.read'),
    resolve: (_root, _args, ctx) => loadRepository(ctx.db, workspaceOf(ctx).workspaceId),
  }),
);

const GitCredentialsInput = builder.inputType('GitCredentialsInput', {
  fields: (t) => ({
    username: t.string({ description: 'Default: "git" (most hosts take any user name with a token).' }),
    password: t.string({ required: true, description: 'A password or an access token. Never returned.' }),
  }),
});

const ConfigureGitRepositoryInput = builder.inputType('ConfigureGitRepositoryInput', {
  fields: (t) => ({
    url: t.string({ required: true, description: 'https:// (local paths only where the gateway allows them).' }),
    branch: t.string({ description: 'Default: main.' }),
    credentials: t.field({ type: GitCredentialsInput, description: 'Replaces the stored credentials; omit to keep them.' }),
    clearCredentials: t.boolean({ description: 'Remove the stored credentials.' }),
  }),
});

const PushToGitInput = builder.inputType('PushToGitInput', {
  fields: (t) => ({ message: t.string({ description: 'The commit message (default: "Push from workspace <name>").' }) }),
});

builder.mutationFields((t) => ({
  configureGitRepository: t.field({
    type: GitRepositoryRef,
    nullable: true,
    description: 'Set the repository of the workspace in use; the gateway checks it can read the branch with these credentials.',
    authScopes: { projectPermission: 'project.git.configure' },
    grantScopes: ['mutationResult'],
    audit: auditAs('git.configure'),
    args: { input: t.arg({ type: ConfigureGitRepositoryInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const workspace = workspaceOf(ctx);
      await configureRepository(
        ctx.db,
        ctx.services.git,
        ctx.services.cipher,
        userIdOf(ctx),
        ctx.principal!.orgId,
        workspace.workspaceId,
        args.input,
      );
      const row = await loadRepository(ctx.db, workspace.workspaceId);
      if (!row) throw notFound('Git repository');
      // Never the credentials: only whether there are some.
      return auditOutcome(info, row, {
        resourceId: workspace.workspaceId,
        details: { url: row.url, branch: row.branch, hasCredentials: row.has_credentials },
      });
    },
  }),
  pushToGit: t.field({
    type: PushResultRef,
    nullable: true,
    description:
      'Commit the workspace’s definitions (one file each) on its branch, with you as the author. CONFLICT when the branch moved since the last sync: pull first.',
    authScopes: { projectPermission: 'project.git.push' },
    grantScopes: ['mutationResult'],
    audit: auditAs('git.push'),
    args: { input: t.arg({ type: PushToGitInput }) },
    resolve: async (_root, args, ctx, info) => {
      const workspace = workspaceOf(ctx);
      const message = optionalText('input.message', args.input?.message, 2000) || `Push from workspace ${workspace.name}`;
      const token = ctx.caller.kind === 'user' ? ctx.caller.token : null;
      const author = {
        name: token?.name ?? token?.email ?? userIdOf(ctx),
        email: token?.email ?? `${userIdOf(ctx)}@users.control-plane.invalid`,
      };
      const result = await pushWorkspace(ctx.db, ctx.services.git, ctx.services.cipher, workspace.workspaceId, author, message);
      return auditOutcome(info, result, {
        resourceId: workspace.workspaceId,
        details: { commit: result.commit, changed: result.changed, files: result.files.length },
      });
    },
  }),
  pullFromGit: t.field({
    type: PullResultRef,
    nullable: true,
    description: 'Read the branch: new versions for changed definitions, new definitions for added files. All or nothing.',
    authScopes: { projectPermission: 'project.git.pull' },
    grantScopes: ['mutationResult'],
    audit: auditAs('git.pull'),
    resolve: async (_root, _args, ctx, info) => {
      const workspace = workspaceOf(ctx);
      const result = await pullWorkspace(ctx.db, ctx.services.git, ctx.services.cipher, userIdOf(ctx), workspace.workspaceId);
      return auditOutcome(info, result, {
        resourceId: workspace.workspaceId,
        details: {
          commit: result.commit,
          added: result.added.map((d) => d.path),
          updated: result.updated.map((d) => d.path),
          unchanged: result.unchanged.length,
        },
      });
    },
  }),
}));
