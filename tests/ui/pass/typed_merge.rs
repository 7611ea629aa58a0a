use ele::prelude::*;
use serde::Serialize;

#[derive(Serialize)]
pub struct Issue {
    pub id: i64,
    pub url: String,
}

/// Issues of a repository.
#[resource(
    name = "issues",
    write_disposition = "merge",
    primary_key = ("id", "url"),
    merge_key = ["day"],
    max_table_nesting = 2,
)]
pub async fn repo_issues(out: Emit<Issue>, repo: String, mut page_size: usize) -> ele::Result<()> {
    page_size = page_size.max(1);
    for id in 0..page_size as i64 {
        let url = format!("https://example.invalid/{repo}/{id}");
        out.send(Issue { id, url }).await?;
    }
    Ok(())
}

fn main() {
    let r = repo_issues("ele".to_owned(), 2);
    assert_eq!(Resource::hints(&r).table(), "issues");
    let r: RepoIssuesResource = r.table_name("x");
    let hints = Resource::hints(&r);
    assert_eq!(hints.name, "issues");
    assert_eq!(hints.table_name.as_deref(), Some("x"));
    assert_eq!(hints.write_disposition, WriteDisposition::Merge);
    assert_eq!(hints.primary_key, Key::from(("id", "url")));
    assert_eq!(hints.merge_key, Key::from("day"));
    assert_eq!(hints.max_table_nesting, Some(2));
}
