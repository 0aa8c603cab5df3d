//! Roles, workflows, actions and permissions (SPEC §3).
//!
//! The role table lives here and only here: [`Role::permissions`] is what the
//! authorization module expands roles into.

use crate::error::ParseError;
use crate::vocabulary::vocabulary;
use std::collections::BTreeSet;

vocabulary! {
    /// A platform-defined role; a member holds one or more.
    pub enum Role {
        Admin => "ADMIN",
        Maker => "MAKER",
        Approver => "APPROVER",
        Signer => "SIGNER",
        Reviewer => "REVIEWER",
        ReadOnly => "READ_ONLY",
    }
}

vocabulary! {
    /// A governed area of the product.
    pub enum Workflow {
        InitiateWithdrawal => "INITIATE_WITHDRAWAL",
        ManageAddresses => "MANAGE_ADDRESSES",
        ManageAccess => "MANAGE_ACCESS",
        ManagePolicies => "MANAGE_POLICIES",
    }
}

vocabulary! {
    /// What one may do within a workflow.
    pub enum Action {
        View => "VIEW",
        Initiate => "INITIATE",
        Approve => "APPROVE",
        Execute => "EXECUTE",
    }
}

vocabulary! {
    /// Whether a membership is in force.
    pub enum MemberStatus {
        Active => "ACTIVE",
        Removed => "REMOVED",
    }
}

/// One permission: an action on a workflow, on every account (`account_id`
/// `None`) or on one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    pub workflow: Workflow,
    pub action: Action,
    pub account_id: Option<String>,
}

impl Permission {
    pub fn everywhere(workflow: Workflow, action: Action) -> Self {
        Self { workflow, action, account_id: None }
    }
}

impl Role {
    /// The permissions this role grants, on every account.
    pub fn permissions(self) -> Vec<Permission> {
        use Action::*;
        use Workflow::*;
        let on = |wfs: &[Workflow], acts: &[Action]| -> Vec<Permission> {
            wfs.iter().flat_map(|w| acts.iter().map(|a| Permission::everywhere(*w, *a))).collect()
        };
        match self {
            Role::Admin => {
                let mut p = on(&[ManageAccess, ManagePolicies, ManageAddresses], &[View, Initiate, Approve, Execute]);
                p.extend(on(&[InitiateWithdrawal], &[View]));
                p
            }
            Role::Maker => on(&[InitiateWithdrawal, ManageAddresses], &[View, Initiate]),
            Role::Approver => on(&[InitiateWithdrawal, ManageAddresses], &[View, Approve]),
            Role::Signer => on(&[InitiateWithdrawal], &[View, Execute]),
            Role::Reviewer | Role::ReadOnly => on(Workflow::ALL, &[View]),
        }
    }
}

/// A non-empty set of roles, stored as `A,B,C`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RoleSet(BTreeSet<Role>);

impl RoleSet {
    /// From client input: at least one role; duplicates collapse.
    pub fn from_input(roles: &[Role]) -> Result<Self, ParseError> {
        if roles.is_empty() {
            return Err(ParseError::new("roles", "at least one role is required"));
        }
        Ok(Self(roles.iter().copied().collect()))
    }

    /// From the database column; unknown names are a data error.
    pub fn from_stored(s: &str) -> Result<Self, ParseError> {
        s.split(',').filter(|p| !p.is_empty()).map(Role::parse).collect::<Result<BTreeSet<_>, _>>().map(Self)
    }

    pub fn to_stored(&self) -> String {
        self.0.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }

    pub fn to_vec(&self) -> Vec<Role> {
        self.0.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), *r);
        }
        for w in Workflow::ALL {
            assert_eq!(Workflow::parse(w.as_str()).unwrap(), *w);
        }
        assert!(Role::parse("OWNER").is_err());
    }

    #[test]
    fn role_sets_store_sorted_and_deduplicated() {
        let s = RoleSet::from_input(&[Role::Signer, Role::Maker, Role::Signer]).unwrap();
        assert_eq!(s.to_stored(), "MAKER,SIGNER");
        assert_eq!(RoleSet::from_stored("MAKER,SIGNER").unwrap(), s);
        assert!(RoleSet::from_input(&[]).is_err());
    }
}
