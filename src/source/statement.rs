//! What a QUERY event's statement is: its leading keyword (after comments), and which tables a
//! data-changing statement writes. A session with `binlog_format=STATEMENT` (or MIXED) logs
//! its INSERT, UPDATE, DELETE, REPLACE and LOAD DATA as text instead of row images: the
//! tables they write must be loaded anew, and only those.

use sqlparser::ast::{
    AssignmentTarget, FromTable, ObjectName, SetExpr, Statement, TableFactor, TableObject, TableWithJoins, UpdateTableFromKind,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::schema::TableId;

/// The statement's text after leading whitespace and comments; an executable comment
/// (`/*!40101 ... */`, MariaDB's `/*M!...`) is code, so its contents count.
pub fn head(query: &str) -> &str {
    let mut rest = query;
    loop {
        rest = rest.trim_start();
        if let Some(body) = rest.strip_prefix("/*!").or_else(|| rest.strip_prefix("/*M!")) {
            return body.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.find("*/").map_or("", |end| &comment[end + 2..]);
        } else if rest.starts_with("-- ") || rest.starts_with("--\t") || rest.starts_with("--\n") || rest.starts_with('#') {
            rest = rest.find('\n').map_or("", |end| &rest[end + 1..]);
        } else {
            return rest;
        }
    }
}

/// The statement's first keyword, upper case (`INSERT`, `BEGIN`, ...); empty when it has none.
pub fn keyword(query: &str) -> String {
    head(query).split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("").to_ascii_uppercase()
}

/// Whether a statement with this leading keyword changes rows when the binlog carries it as
/// text. SELECT, DO and WITH are only logged when they change data (a stored function that
/// writes, MySQL's `WITH ... UPDATE`).
pub fn changes_rows(keyword: &str) -> bool {
    matches!(keyword, "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD" | "SELECT" | "DO" | "WITH")
}

/// The tables a data-changing statement run in database `db` writes; `None` when they
/// cannot be told from its text (a syntax binlake does not read, a stored function call).
/// Tables only read (`INSERT ... SELECT`'s source, a joined lookup table whose columns are
/// not assigned, subqueries) are not among them.
pub fn changed_tables(query: &str, db: &str) -> Option<Vec<TableId>> {
    let head = head(query);
    if keyword(head) == "LOAD" {
        return load_data_table(head, db).map(|t| vec![t]);
    }
    let mut statements = match Parser::parse_sql(&MySqlDialect {}, head) {
        Ok(statements) => statements,
        // MySQL's `UPDATE a, b SET ...`, which the parser only takes as a join.
        Err(_) if keyword(head) == "UPDATE" => Parser::parse_sql(&MySqlDialect {}, &comma_joins(head)?).ok()?,
        Err(_) => return None,
    };
    if statements.len() != 1 {
        return None;
    }
    let mut tables = match statements.pop()? {
        Statement::Insert(insert) => match insert.table {
            TableObject::TableName(name) => vec![table_id(&name, db)?],
            _ => return None,
        },
        Statement::Update(update) => {
            let mut refs = Vec::new();
            references(&update.table, db, &mut refs)?;
            if let Some(UpdateTableFromKind::BeforeSet(from) | UpdateTableFromKind::AfterSet(from)) = &update.from {
                for t in from {
                    references(t, db, &mut refs)?;
                }
            }
            let mut written = Vec::new();
            for assignment in &update.assignments {
                let columns = match &assignment.target {
                    AssignmentTarget::ColumnName(c) => std::slice::from_ref(c),
                    AssignmentTarget::Tuple(cs) => cs.as_slice(),
                };
                for column in columns {
                    written.extend(assigned_table(column, &refs)?);
                }
            }
            written
        }
        Statement::Delete(delete) => {
            let mut refs = Vec::new();
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            for t in from.iter().chain(delete.using.iter().flatten()) {
                references(t, db, &mut refs)?;
            }
            if !delete.tables.is_empty() {
                // DELETE a, b FROM a JOIN b ...: the names listed.
                delete.tables.iter().map(|name| resolve(name, &refs, db)).collect::<Option<_>>()?
            } else if delete.using.is_some() {
                // DELETE FROM a, b USING a JOIN b ...: the names after FROM.
                let mut named = Vec::new();
                for t in from {
                    let TableFactor::Table { name, .. } = &t.relation else { return None };
                    named.push(resolve(name, &refs, db)?);
                }
                named
            } else {
                // DELETE FROM t ...: the one table named.
                vec![refs.first()?.1.clone()]
            }
        }
        Statement::Query(query) => match *query.body {
            // MySQL 8's WITH ... UPDATE / DELETE
            SetExpr::Update(statement) | SetExpr::Delete(statement) => {
                return changed_tables(&statement.to_string(), db);
            }
            _ => return None,
        },
        _ => return None,
    };
    tables.sort();
    tables.dedup();
    Some(tables)
}

/// `UPDATE a, b SET ...` as `UPDATE a JOIN b SET ...`: the commas between the tables (outside
/// parentheses) become joins.
fn comma_joins(head: &str) -> Option<String> {
    let tokens = Tokenizer::new(&MySqlDialect {}, head).tokenize().ok()?;
    let mut out = String::with_capacity(head.len() + 16);
    let (mut depth, mut in_tables) = (0usize, true);
    for token in tokens {
        match &token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Word(w) if depth == 0 && w.quote_style.is_none() && w.value.eq_ignore_ascii_case("SET") => in_tables = false,
            Token::Comma if depth == 0 && in_tables => {
                out.push_str(" JOIN ");
                continue;
            }
            _ => {}
        }
        out.push_str(&token.to_string());
    }
    Some(out)
}

/// `LOAD DATA|XML [LOW_PRIORITY|CONCURRENT] [LOCAL] INFILE '...' [REPLACE|IGNORE] INTO TABLE t`.
fn load_data_table(head: &str, db: &str) -> Option<TableId> {
    let tokens: Vec<Token> =
        Tokenizer::new(&MySqlDialect {}, head).tokenize().ok()?.into_iter().filter(|t| !matches!(t, Token::Whitespace(_))).collect();
    let is = |t: &Token, word: &str| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word));
    let into = tokens.windows(2).position(|w| is(&w[0], "INTO") && is(&w[1], "TABLE"))?;
    let name = |i: usize| match tokens.get(i) {
        Some(Token::Word(w)) => Some(w.value.clone()),
        _ => None,
    };
    let first = name(into + 2)?;
    match tokens.get(into + 3) {
        Some(Token::Period) => Some(TableId::new(first, name(into + 4)?)),
        _ => Some(TableId::new(db, first)),
    }
}

/// The tables of a FROM-like clause with the names they go by (alias or table name);
/// `None` for what binlake cannot name (a table function). Derived tables are only read.
fn references(t: &TableWithJoins, db: &str, out: &mut Vec<(String, TableId)>) -> Option<()> {
    for factor in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
        match factor {
            TableFactor::Table { name, alias, args: None, .. } => {
                let id = table_id(name, db)?;
                let called = alias.as_ref().map_or_else(|| id.table.clone(), |a| a.name.value.clone());
                out.push((called, id));
            }
            TableFactor::NestedJoin { table_with_joins, .. } => references(table_with_joins, db, out)?,
            TableFactor::Derived { .. } => {}
            _ => return None,
        }
    }
    Some(())
}

/// The table(s) an assigned column `[[db.]t.]c` belongs to: with no qualifier, the only table
/// of the statement, or every one of them when several could hold it.
fn assigned_table(column: &ObjectName, refs: &[(String, TableId)]) -> Option<Vec<TableId>> {
    let parts = idents(column)?;
    match parts.as_slice() {
        [_] => Some(refs.iter().map(|(_, id)| id.clone()).collect()),
        [table, _] => Some(vec![refs.iter().find(|(called, _)| called.eq_ignore_ascii_case(table))?.1.clone()]),
        [db, table, _] => {
            let id = TableId::new(db.clone(), table.clone());
            refs.iter()
                .any(|(_, r)| r.database.eq_ignore_ascii_case(&id.database) && r.table.eq_ignore_ascii_case(&id.table))
                .then_some(vec![id])
        }
        _ => None,
    }
}

/// A name of a multi-table DELETE's list: an alias or table of its references.
fn resolve(name: &ObjectName, refs: &[(String, TableId)], db: &str) -> Option<TableId> {
    let parts = idents(name)?;
    match parts.as_slice() {
        [called] => refs.iter().find(|(c, _)| c.eq_ignore_ascii_case(called)).map(|(_, id)| id.clone()),
        _ => table_id(name, db),
    }
}

fn table_id(name: &ObjectName, db: &str) -> Option<TableId> {
    match idents(name)?.as_slice() {
        [table] => Some(TableId::new(db, table.clone())),
        [database, table] => Some(TableId::new(database.clone(), table.clone())),
        _ => None,
    }
}

fn idents(name: &ObjectName) -> Option<Vec<String>> {
    name.0.iter().map(|p| p.as_ident().map(|i| i.value.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(q: &str) -> Option<Vec<String>> {
        changed_tables(q, "db").map(|ts| ts.iter().map(|t| t.to_string()).collect())
    }

    #[test]
    fn leading_comments_and_keywords() {
        assert_eq!(keyword("  /* app=web */ update t set a = 1"), "UPDATE");
        assert_eq!(keyword("-- note\n# more\nDELETE FROM t"), "DELETE");
        assert_eq!(keyword("/*!40000 INSERT INTO t VALUES (1) */"), "INSERT");
        assert_eq!(keyword("BEGIN"), "BEGIN");
        assert_eq!(keyword("/* only a comment */"), "");
        assert!(changes_rows("REPLACE") && changes_rows("LOAD") && !changes_rows("BEGIN") && !changes_rows("ALTER"));
    }

    #[test]
    fn the_tables_a_statement_writes() {
        assert_eq!(tables("insert into t values (1)"), Some(vec!["db.t".into()]));
        assert_eq!(tables("/* c */ INSERT LOW_PRIORITY IGNORE INTO other.t (a) VALUES (1)"), Some(vec!["other.t".into()]));
        assert_eq!(tables("REPLACE INTO `t` SET a = 1"), Some(vec!["db.t".into()]));
        assert_eq!(tables("INSERT INTO t SELECT * FROM src JOIN other.src2 USING (id)"), Some(vec!["db.t".into()]));
        assert_eq!(tables("INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = a + 1"), Some(vec!["db.t".into()]));
        assert_eq!(tables("UPDATE t SET a = (SELECT max(b) FROM u) WHERE id = 1"), Some(vec!["db.t".into()]));
        // a multi-table UPDATE writes the tables whose columns it assigns
        assert_eq!(tables("UPDATE t a JOIN lookup l ON a.k = l.k SET a.v = l.v"), Some(vec!["db.t".into()]));
        assert_eq!(tables("UPDATE t, u SET t.a = 1, u.b = 2 WHERE t.id = u.id"), Some(vec!["db.t".into(), "db.u".into()]));
        assert_eq!(tables("UPDATE t JOIN u ON t.id = u.id SET a = 1"), Some(vec!["db.t".into(), "db.u".into()]));
        assert_eq!(tables("DELETE FROM t WHERE id IN (SELECT id FROM u)"), Some(vec!["db.t".into()]));
        assert_eq!(tables("DELETE a FROM t a JOIN u ON a.id = u.id"), Some(vec!["db.t".into()]));
        assert_eq!(tables("DELETE FROM t, x.u USING t JOIN x.u ON t.id = u.id"), Some(vec!["db.t".into(), "x.u".into()]));
        assert_eq!(tables("LOAD DATA LOCAL INFILE '/tmp/x.csv' REPLACE INTO TABLE x.t FIELDS TERMINATED BY ','"), Some(vec!["x.t".into()]));
        assert_eq!(tables("load data infile 'f' into table t"), Some(vec!["db.t".into()]));
        assert_eq!(tables("WITH c AS (SELECT 1 AS id) DELETE FROM t WHERE id IN (SELECT id FROM c)"), Some(vec!["db.t".into()]));
        // what cannot be told
        assert_eq!(tables("SELECT f(1)"), None);
        assert_eq!(tables("DO f(1)"), None);
        assert_eq!(tables("INSERT INTO"), None);
    }
}
