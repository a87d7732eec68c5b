//! The person-plus-cadence flow, step by step, on any authorized client.

use crate::errors::DemoError;
use crate::output::{Account, Links, Membership, Person, Report, Reporter, User};
use salesloft_api::Client;
use salesloft_api::types::EmbeddedResourceId;

/// Knobs of one run.
#[derive(Clone, Debug)]
pub struct FlowOptions {
    /// The web app's base URL, for the links printed at the end.
    pub app_base_url: String,
    /// Remove what the run created.
    pub cleanup: bool,
    /// Seconds since the epoch, for the new person's unique email.
    pub unix_time: i64,
}

/// `name+<unix time>@domain` from the user's own address: unique, and delivered to them.
pub fn derived_email(user_email: &str, unix_time: i64) -> Result<String, DemoError> {
    let (local, domain) = user_email
        .split_once('@')
        .filter(|(l, d)| !l.is_empty() && d.contains('.'))
        .ok_or_else(|| {
            DemoError::Flow(format!(
                "the user's email `{user_email}` is not an address to derive one from"
            ))
        })?;
    let local = local.split('+').next().unwrap_or(local);
    Ok(format!("{local}+{unix_time}@{domain}"))
}

fn embedded_id(id: &Option<EmbeddedResourceId>) -> Option<i64> {
    match id {
        Some(EmbeddedResourceId::Int64(id)) => Some(*id),
        Some(EmbeddedResourceId::String(id)) => id.parse().ok(),
        None => None,
    }
}

fn company_name(domain: &str) -> String {
    let label = domain.split('.').next().unwrap_or(domain);
    let mut chars = label.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_else(|| domain.to_string())
}

pub async fn run(
    client: &Client,
    options: &FlowOptions,
    out: &Reporter,
    report: &mut Report,
) -> Result<(), DemoError> {
    // 1. Who am I
    let me = client.get_me().send().await?.into_inner().data;
    let my_email = me.email.clone().unwrap_or_default();
    out.step(&format!(
        "1. Signed in as {} <{}>",
        me.name.as_deref().unwrap_or("(no name)"),
        my_email
    ));
    report.user = Some(User {
        name: me.name.clone(),
        email: me.email.clone(),
    });

    // 2. Create a person
    let email = derived_email(&my_email, options.unix_time)?;
    let created = client
        .create_person()
        .body_map(|b| {
            b.email_address(email.clone())
                .first_name("Demo".to_string())
                .last_name("Person".to_string())
        })
        .send()
        .await?
        .into_inner()
        .data;
    let person_id = created
        .id
        .ok_or_else(|| DemoError::Flow("SalesLoft returned a person without an id".into()))?;
    out.step(&format!(
        "2. Created person {person_id}: Demo Person <{email}>"
    ));

    // 3. Update the name
    let updated = client
        .update_person()
        .id(person_id)
        .body_map(|b| {
            b.first_name("Test".to_string())
                .last_name("McTester".to_string())
        })
        .send()
        .await?
        .into_inner()
        .data;
    let name = format!(
        "{} {}",
        updated.first_name.unwrap_or_default(),
        updated.last_name.unwrap_or_default()
    );
    out.step(&format!("3. Renamed person {person_id} to {name}"));
    report.person = Some(Person {
        id: person_id,
        email: email.clone(),
        name: name.clone(),
    });

    // 4. Look the person up by email
    let found = client
        .list_people()
        .email_addresses(vec![email.clone()])
        .send()
        .await?
        .into_inner()
        .data;
    let found_ids: Vec<i64> = found.iter().filter_map(|p| p.id).collect();
    if found_ids != [person_id] {
        return Err(DemoError::Flow(format!(
            "looking up {email} found {found_ids:?}, not person {person_id}"
        )));
    }
    out.step(&format!(
        "4. Looked up {email}: person {person_id}, the same person"
    ));

    // 5. The company
    let domain = email.rsplit('@').next().unwrap_or_default().to_string();
    let existing = client
        .list_accounts()
        .domain(domain.clone())
        .send()
        .await?
        .into_inner()
        .data
        .into_iter()
        .next();
    let (account, account_created) = match existing {
        Some(account) => (account, false),
        None => {
            let name = company_name(&domain);
            let account = client
                .create_account()
                .body_map(|b| b.name(name).domain(domain.clone()))
                .send()
                .await?
                .into_inner()
                .data;
            (account, true)
        }
    };
    let account_id = account
        .id
        .ok_or_else(|| DemoError::Flow("SalesLoft returned an account without an id".into()))?;
    client
        .update_person()
        .id(person_id)
        .body_map(|b| b.account_id(account_id))
        .send()
        .await?;
    let linked = client
        .get_person()
        .id(person_id)
        .send()
        .await?
        .into_inner()
        .data;
    let linked_account = linked.account.as_ref().and_then(|a| embedded_id(&a.id));
    if linked_account != Some(account_id) {
        return Err(DemoError::Flow(format!(
            "person {person_id} is linked to {linked_account:?}, not account {account_id}"
        )));
    }
    let verb = if account_created { "Created" } else { "Found" };
    out.step(&format!(
        "5. {verb} account {account_id} ({}, {domain}); person {person_id} now belongs to it",
        account.name.as_deref().unwrap_or("unnamed")
    ));
    report.account = Some(Account {
        id: account_id,
        name: account.name.clone(),
        domain,
        created: account_created,
    });

    // 6. Cadences
    let cadences = client
        .list_cadences()
        .per_page(100)
        .send()
        .await?
        .into_inner()
        .data;
    out.step(&format!("6. {} cadence(s) visible", cadences.len()));
    let mut links = Links {
        note: "Web app paths are not part of the API; these follow the app's current layout."
            .into(),
        person: Some(format!("{}/app/people/{person_id}", options.app_base_url)),
        cadence: None,
    };
    match cadences.first() {
        None => out.step("   No cadence to add the person to: create one in the SalesLoft app first, then run the demo again."),
        Some(cadence) => {
            let cadence_id = cadence.id.ok_or_else(|| DemoError::Flow("a cadence without an id".into()))?;
            let membership = client
                .create_cadence_membership()
                .body_map(|b| b.person_id(person_id).cadence_id(cadence_id))
                .send()
                .await?
                .into_inner()
                .data;
            let membership_id = membership.id.ok_or_else(|| DemoError::Flow("a membership without an id".into()))?;
            out.step(&format!(
                "   Added person {person_id} to cadence {cadence_id} ({}): membership {membership_id}, state {}",
                cadence.name.as_deref().unwrap_or("unnamed"),
                membership.current_state.as_deref().unwrap_or("unknown")
            ));
            links.cadence = Some(format!("{}/app/cadences/{cadence_id}/people", options.app_base_url));
            report.membership = Some(Membership {
                id: membership_id,
                cadence_id,
                cadence_name: cadence.name.clone(),
                state: membership.current_state.clone(),
            });
        }
    }

    // 7. Where to see it
    out.step(&format!(
        "7. See the person at {}",
        links.person.as_deref().unwrap_or_default()
    ));
    if let Some(cadence) = &links.cadence {
        out.step(&format!("   and the cadence's people at {cadence}"));
    }
    out.step(&format!("   ({})", links.note));
    report.links = links;

    if options.cleanup {
        cleanup(client, report, out).await?;
    }
    Ok(())
}

/// Removes what the run created: the membership, the person, and the account if it was new.
async fn cleanup(client: &Client, report: &mut Report, out: &Reporter) -> Result<(), DemoError> {
    if let Some(membership) = &report.membership {
        client
            .delete_cadence_membership()
            .id(membership.id)
            .send()
            .await?;
    }
    if let Some(person) = &report.person {
        client.delete_person().id(person.id).send().await?;
    }
    if let Some(account) = report.account.as_ref().filter(|a| a.created) {
        client.delete_account().id(account.id).send().await?;
    }
    report.cleaned_up = true;
    out.step(
        "Cleaned up: removed the membership, the person, and the account if this run created it.",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_emails() {
        assert_eq!(
            derived_email("sandy@example.com", 17).unwrap(),
            "sandy+17@example.com"
        );
        assert_eq!(
            derived_email("sandy+old@example.com", 17).unwrap(),
            "sandy+17@example.com"
        );
        assert!(derived_email("nobody", 1).is_err());
        assert_eq!(company_name("acme.test"), "Acme");
    }
}
