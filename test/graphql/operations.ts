/** The operations the end-to-end tests send, typed by codegen against schema.graphql. */
import { graphql } from '../generated/index.js';

export const ViewerQuery = graphql(`
  query Viewer {
    viewer {
      user {
        id
        name
        email
      }
      organization {
        id
        name
      }
      role {
        key
        name
        permissionCount
      }
      permissions
      customer {
        id
        name
      }
      organizations {
        organization {
          id
          name
        }
        status
      }
    }
  }
`);

export const RolesQuery = graphql(`
  query Roles {
    roles {
      id
      key
      name
      isSystem
      permissionCount
      memberCount
      categories {
        category {
          key
        }
        granted
        total
      }
    }
  }
`);

export const CatalogueQuery = graphql(`
  query Catalogue {
    permissionCatalogue {
      key
      group
      total
      permissions {
        key
      }
    }
  }
`);

export const WorkflowsQuery = graphql(`
  query Workflows($first: Int, $after: String, $last: Int, $before: String, $filter: WorkflowFilter, $orderBy: DefinitionOrder) {
    workflows(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
      totalCount
      edges {
        cursor
        node {
          id
          name
          version
          createdBy {
            name
          }
          deployments {
            environment
            version
          }
        }
      }
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
    }
  }
`);

export const WorkflowQuery = graphql(`
  query Workflow($id: ID!) {
    workflow(id: $id) {
      id
      name
      description
      version
      definition
    }
  }
`);

export const CreateWorkflow = graphql(`
  mutation CreateWorkflow($input: CreateWorkflowInput!) {
    createWorkflow(input: $input) {
      id
      name
      version
      createdBy {
        id
      }
    }
  }
`);

export const UpdateWorkflow = graphql(`
  mutation UpdateWorkflow($input: UpdateWorkflowInput!) {
    updateWorkflow(input: $input) {
      id
      name
      version
      definition
    }
  }
`);

export const DeleteWorkflow = graphql(`
  mutation DeleteWorkflow($input: DeleteWorkflowInput!) {
    deleteWorkflow(input: $input) {
      deletedWorkflowId
    }
  }
`);

export const ExecuteWorkflow = graphql(`
  mutation ExecuteWorkflow($input: ExecuteWorkflowInput!) {
    executeWorkflow(input: $input) {
      id
      status
      targetName
      targetVersion
      customer {
        id
      }
    }
  }
`);

export const DeployWorkflowToTest = graphql(`
  mutation DeployWorkflowToTest($input: DeployWorkflowInput!) {
    deployWorkflowToTest(input: $input) {
      environment
      version
    }
  }
`);

export const DeployWorkflowToProduction = graphql(`
  mutation DeployWorkflowToProduction($input: DeployWorkflowInput!) {
    deployWorkflowToProduction(input: $input) {
      environment
      version
    }
  }
`);

export const CreateOrganization = graphql(`
  mutation CreateOrganization($input: CreateOrganizationInput!) {
    createOrganization(input: $input) {
      id
      name
    }
  }
`);
