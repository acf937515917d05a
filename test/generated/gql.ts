/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query Viewer {\n    viewer {\n      user {\n        id\n        name\n        email\n      }\n      organization {\n        id\n        name\n      }\n      role {\n        key\n        name\n        permissionCount\n      }\n      permissions\n      customer {\n        id\n        name\n      }\n      organizations {\n        organization {\n          id\n          name\n        }\n        status\n      }\n    }\n  }\n": typeof types.ViewerDocument,
    "\n  query Roles {\n    roles {\n      id\n      key\n      name\n      isSystem\n      permissionCount\n      memberCount\n      categories {\n        category {\n          key\n        }\n        granted\n        total\n      }\n    }\n  }\n": typeof types.RolesDocument,
    "\n  query Catalogue {\n    permissionCatalogue {\n      key\n      group\n      total\n      permissions {\n        key\n      }\n    }\n  }\n": typeof types.CatalogueDocument,
    "\n  query Workflows($first: Int, $after: String, $last: Int, $before: String, $filter: WorkflowFilter, $orderBy: DefinitionOrder) {\n    workflows(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      edges {\n        cursor\n        node {\n          id\n          name\n          version\n          createdBy {\n            name\n          }\n          deployments {\n            environment\n            version\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": typeof types.WorkflowsDocument,
    "\n  query Workflow($id: ID!) {\n    workflow(id: $id) {\n      id\n      name\n      description\n      version\n      definition\n    }\n  }\n": typeof types.WorkflowDocument,
    "\n  mutation CreateWorkflow($input: CreateWorkflowInput!) {\n    createWorkflow(input: $input) {\n      id\n      name\n      version\n      createdBy {\n        id\n      }\n    }\n  }\n": typeof types.CreateWorkflowDocument,
    "\n  mutation UpdateWorkflow($input: UpdateWorkflowInput!) {\n    updateWorkflow(input: $input) {\n      id\n      name\n      version\n      definition\n    }\n  }\n": typeof types.UpdateWorkflowDocument,
    "\n  mutation DeleteWorkflow($input: DeleteWorkflowInput!) {\n    deleteWorkflow(input: $input) {\n      deletedWorkflowId\n    }\n  }\n": typeof types.DeleteWorkflowDocument,
    "\n  mutation ExecuteWorkflow($input: ExecuteWorkflowInput!) {\n    executeWorkflow(input: $input) {\n      id\n      status\n      targetName\n      targetVersion\n      customer {\n        id\n      }\n    }\n  }\n": typeof types.ExecuteWorkflowDocument,
    "\n  mutation DeployWorkflowToTest($input: DeployWorkflowInput!) {\n    deployWorkflowToTest(input: $input) {\n      environment\n      version\n    }\n  }\n": typeof types.DeployWorkflowToTestDocument,
    "\n  mutation DeployWorkflowToProduction($input: DeployWorkflowInput!) {\n    deployWorkflowToProduction(input: $input) {\n      environment\n      version\n    }\n  }\n": typeof types.DeployWorkflowToProductionDocument,
    "\n  mutation CreateOrganization($input: CreateOrganizationInput!) {\n    createOrganization(input: $input) {\n      id\n      name\n    }\n  }\n": typeof types.CreateOrganizationDocument,
};
const documents: Documents = {
    "\n  query Viewer {\n    viewer {\n      user {\n        id\n        name\n        email\n      }\n      organization {\n        id\n        name\n      }\n      role {\n        key\n        name\n        permissionCount\n      }\n      permissions\n      customer {\n        id\n        name\n      }\n      organizations {\n        organization {\n          id\n          name\n        }\n        status\n      }\n    }\n  }\n": types.ViewerDocument,
    "\n  query Roles {\n    roles {\n      id\n      key\n      name\n      isSystem\n      permissionCount\n      memberCount\n      categories {\n        category {\n          key\n        }\n        granted\n        total\n      }\n    }\n  }\n": types.RolesDocument,
    "\n  query Catalogue {\n    permissionCatalogue {\n      key\n      group\n      total\n      permissions {\n        key\n      }\n    }\n  }\n": types.CatalogueDocument,
    "\n  query Workflows($first: Int, $after: String, $last: Int, $before: String, $filter: WorkflowFilter, $orderBy: DefinitionOrder) {\n    workflows(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      edges {\n        cursor\n        node {\n          id\n          name\n          version\n          createdBy {\n            name\n          }\n          deployments {\n            environment\n            version\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": types.WorkflowsDocument,
    "\n  query Workflow($id: ID!) {\n    workflow(id: $id) {\n      id\n      name\n      description\n      version\n      definition\n    }\n  }\n": types.WorkflowDocument,
    "\n  mutation CreateWorkflow($input: CreateWorkflowInput!) {\n    createWorkflow(input: $input) {\n      id\n      name\n      version\n      createdBy {\n        id\n      }\n    }\n  }\n": types.CreateWorkflowDocument,
    "\n  mutation UpdateWorkflow($input: UpdateWorkflowInput!) {\n    updateWorkflow(input: $input) {\n      id\n      name\n      version\n      definition\n    }\n  }\n": types.UpdateWorkflowDocument,
    "\n  mutation DeleteWorkflow($input: DeleteWorkflowInput!) {\n    deleteWorkflow(input: $input) {\n      deletedWorkflowId\n    }\n  }\n": types.DeleteWorkflowDocument,
    "\n  mutation ExecuteWorkflow($input: ExecuteWorkflowInput!) {\n    executeWorkflow(input: $input) {\n      id\n      status\n      targetName\n      targetVersion\n      customer {\n        id\n      }\n    }\n  }\n": types.ExecuteWorkflowDocument,
    "\n  mutation DeployWorkflowToTest($input: DeployWorkflowInput!) {\n    deployWorkflowToTest(input: $input) {\n      environment\n      version\n    }\n  }\n": types.DeployWorkflowToTestDocument,
    "\n  mutation DeployWorkflowToProduction($input: DeployWorkflowInput!) {\n    deployWorkflowToProduction(input: $input) {\n      environment\n      version\n    }\n  }\n": types.DeployWorkflowToProductionDocument,
    "\n  mutation CreateOrganization($input: CreateOrganizationInput!) {\n    createOrganization(input: $input) {\n      id\n      name\n    }\n  }\n": types.CreateOrganizationDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Viewer {\n    viewer {\n      user {\n        id\n        name\n        email\n      }\n      organization {\n        id\n        name\n      }\n      role {\n        key\n        name\n        permissionCount\n      }\n      permissions\n      customer {\n        id\n        name\n      }\n      organizations {\n        organization {\n          id\n          name\n        }\n        status\n      }\n    }\n  }\n"): (typeof documents)["\n  query Viewer {\n    viewer {\n      user {\n        id\n        name\n        email\n      }\n      organization {\n        id\n        name\n      }\n      role {\n        key\n        name\n        permissionCount\n      }\n      permissions\n      customer {\n        id\n        name\n      }\n      organizations {\n        organization {\n          id\n          name\n        }\n        status\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Roles {\n    roles {\n      id\n      key\n      name\n      isSystem\n      permissionCount\n      memberCount\n      categories {\n        category {\n          key\n        }\n        granted\n        total\n      }\n    }\n  }\n"): (typeof documents)["\n  query Roles {\n    roles {\n      id\n      key\n      name\n      isSystem\n      permissionCount\n      memberCount\n      categories {\n        category {\n          key\n        }\n        granted\n        total\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Catalogue {\n    permissionCatalogue {\n      key\n      group\n      total\n      permissions {\n        key\n      }\n    }\n  }\n"): (typeof documents)["\n  query Catalogue {\n    permissionCatalogue {\n      key\n      group\n      total\n      permissions {\n        key\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Workflows($first: Int, $after: String, $last: Int, $before: String, $filter: WorkflowFilter, $orderBy: DefinitionOrder) {\n    workflows(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      edges {\n        cursor\n        node {\n          id\n          name\n          version\n          createdBy {\n            name\n          }\n          deployments {\n            environment\n            version\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query Workflows($first: Int, $after: String, $last: Int, $before: String, $filter: WorkflowFilter, $orderBy: DefinitionOrder) {\n    workflows(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      edges {\n        cursor\n        node {\n          id\n          name\n          version\n          createdBy {\n            name\n          }\n          deployments {\n            environment\n            version\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Workflow($id: ID!) {\n    workflow(id: $id) {\n      id\n      name\n      description\n      version\n      definition\n    }\n  }\n"): (typeof documents)["\n  query Workflow($id: ID!) {\n    workflow(id: $id) {\n      id\n      name\n      description\n      version\n      definition\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateWorkflow($input: CreateWorkflowInput!) {\n    createWorkflow(input: $input) {\n      id\n      name\n      version\n      createdBy {\n        id\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation CreateWorkflow($input: CreateWorkflowInput!) {\n    createWorkflow(input: $input) {\n      id\n      name\n      version\n      createdBy {\n        id\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateWorkflow($input: UpdateWorkflowInput!) {\n    updateWorkflow(input: $input) {\n      id\n      name\n      version\n      definition\n    }\n  }\n"): (typeof documents)["\n  mutation UpdateWorkflow($input: UpdateWorkflowInput!) {\n    updateWorkflow(input: $input) {\n      id\n      name\n      version\n      definition\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteWorkflow($input: DeleteWorkflowInput!) {\n    deleteWorkflow(input: $input) {\n      deletedWorkflowId\n    }\n  }\n"): (typeof documents)["\n  mutation DeleteWorkflow($input: DeleteWorkflowInput!) {\n    deleteWorkflow(input: $input) {\n      deletedWorkflowId\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ExecuteWorkflow($input: ExecuteWorkflowInput!) {\n    executeWorkflow(input: $input) {\n      id\n      status\n      targetName\n      targetVersion\n      customer {\n        id\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ExecuteWorkflow($input: ExecuteWorkflowInput!) {\n    executeWorkflow(input: $input) {\n      id\n      status\n      targetName\n      targetVersion\n      customer {\n        id\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeployWorkflowToTest($input: DeployWorkflowInput!) {\n    deployWorkflowToTest(input: $input) {\n      environment\n      version\n    }\n  }\n"): (typeof documents)["\n  mutation DeployWorkflowToTest($input: DeployWorkflowInput!) {\n    deployWorkflowToTest(input: $input) {\n      environment\n      version\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeployWorkflowToProduction($input: DeployWorkflowInput!) {\n    deployWorkflowToProduction(input: $input) {\n      environment\n      version\n    }\n  }\n"): (typeof documents)["\n  mutation DeployWorkflowToProduction($input: DeployWorkflowInput!) {\n    deployWorkflowToProduction(input: $input) {\n      environment\n      version\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateOrganization($input: CreateOrganizationInput!) {\n    createOrganization(input: $input) {\n      id\n      name\n    }\n  }\n"): (typeof documents)["\n  mutation CreateOrganization($input: CreateOrganizationInput!) {\n    createOrganization(input: $input) {\n      id\n      name\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;