//! DDL statements from the binlog's QUERY events, as the schema changes they make.
//!
//! Column definitions are parsed by `sqlparser` (MySQL dialect); the statement around them
//! (which table, which ALTER operations) is walked here token by token, because MySQL's
//! ALTER TABLE has many forms no general SQL parser covers. An ALTER operation is either
//! understood, known to leave the columns alone (ENGINE=, ADD INDEX, ALGORITHM=, ...), or the
//! whole statement is [`Ddl::Unparsed`]: binlake never guesses what a statement did.

use sqlparser::ast::{ColumnDef, ColumnOption, DataType, Expr, UnaryOperator, Value};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Word};

use crate::schema::TableId;

/// A statement's effect on table schemas.
#[derive(Debug, Clone, PartialEq)]
pub enum Ddl {
    /// CREATE TABLE; with `if_not_exists`, nothing happens to a table that exists.
    Create {
        table: TableId,
        body: CreateBody,
        if_not_exists: bool,
    },
    Alter {
        table: TableId,
        ops: Vec<AlterOp>,
    },
    /// RENAME TABLE a TO b, c TO d (applied one after the other, as MySQL does).
    Rename(Vec<(TableId, TableId)>),
    Drop(Vec<TableId>),
    Truncate(TableId),
    DropDatabase(String),
    /// CREATE or ALTER DATABASE with a default character set (`None`: the server's).
    DatabaseCharset {
        database: String,
        charset: Option<String>,
    },
    /// A statement about `table` (when its name could be read) that binlake cannot follow.
    Unparsed {
        table: Option<TableId>,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateBody {
    /// `unique_keys`: the UNIQUE keys of whole columns, in definition order.
    Columns {
        columns: Vec<ColumnDef>,
        primary_key: Vec<String>,
        unique_keys: Vec<Vec<String>>,
        charset: Option<String>,
    },
    Like(TableId),
}

/// Whether a column definition makes the column a UNIQUE key of its own.
pub fn declares_unique(def: &ColumnDef) -> bool {
    def.options.iter().any(|o| matches!(o.option, ColumnOption::Unique(_)))
}

/// A key's columns as CREATE or ALTER TABLE names them.
#[derive(Debug, Clone, PartialEq)]
struct KeyDef {
    columns: Vec<String>,
    /// No part is a prefix (`name(10)`) or an expression.
    whole: bool,
}

/// A definition of CREATE TABLE's list that is not a column.
enum Definition {
    PrimaryKey(KeyDef),
    Unique(KeyDef),
    /// Other indexes and constraints: they change no column.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Position {
    Last,
    First,
    After(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlterOp {
    AddColumn {
        def: ColumnDef,
        position: Position,
        if_not_exists: bool,
    },
    DropColumn {
        name: String,
        if_exists: bool,
    },
    /// CHANGE old new ... and MODIFY name ... (old == new).
    ChangeColumn {
        old: String,
        def: ColumnDef,
        position: Position,
        if_exists: bool,
    },
    RenameColumn {
        old: String,
        new: String,
    },
    /// ALTER COLUMN c SET DEFAULT v / DROP DEFAULT: the default as binlake keeps it.
    SetDefault {
        column: String,
        default: Option<String>,
    },
    AddPrimaryKey(Vec<String>),
    DropPrimaryKey,
    /// ADD UNIQUE, DROP INDEX: the UNIQUE keys may change (a dropped index is known by its
    /// name only).
    UniqueKeys,
    /// CONVERT TO CHARACTER SET: every text column and the table default.
    ConvertCharset(String),
    DefaultCharset(String),
    RenameTo(TableId),
    /// Rows change without row events: TRUNCATE/DROP/EXCHANGE PARTITION, DISCARD/IMPORT
    /// TABLESPACE.
    RowsChanged,
}

/// Reads the schema changes of a QUERY event's statement, run in database `db`. Statements
/// that change no table (DML, GRANT, CREATE VIEW, ...) give nothing.
pub fn parse(query: &str, db: &str) -> Vec<Ddl> {
    let dialect = MySqlDialect {};
    let parser = match Parser::new(&dialect).try_with_sql(query) {
        Ok(p) => p,
        Err(e) => {
            // Not even tokens: a statement that may be DDL is reported, whatever its table.
            let verb = query.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("").to_ascii_uppercase();
            return match ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"].contains(&verb.as_str()) {
                true => vec![Ddl::Unparsed { table: None, reason: e.to_string() }],
                false => Vec::new(),
            };
        }
    };
    let mut s = Statement { p: parser, db, selects: false };
    match s.statement() {
        Ok(ddl) => ddl,
        Err(reason) => vec![Ddl::Unparsed { table: mentioned_table(query, db), reason }],
    }
}

/// The table a CREATE/ALTER/DROP/RENAME/TRUNCATE TABLE statement is about, read leniently,
/// for statements the parser does not take; `None` for other statements.
fn mentioned_table(query: &str, db: &str) -> Option<TableId> {
    let dialect = MySqlDialect {};
    let mut p = Statement { p: Parser::new(&dialect).try_with_sql(query).ok()?, db, selects: false };
    let verb = p.any_word(&["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"])?;
    if verb != "TRUNCATE" {
        while p.any_word(&["OR", "REPLACE", "ONLINE", "IGNORE", "TEMPORARY"]).is_some() {}
        if !p.word("TABLE") {
            return None;
        }
    } else {
        p.word("TABLE");
    }
    if p.word("IF") {
        p.word("NOT");
        p.word("EXISTS");
    }
    p.table_name().ok()
}

struct Statement<'a> {
    p: Parser<'a>,
    db: &'a str,
    /// A SELECT was passed among table options (CREATE TABLE ... SELECT).
    selects: bool,
}

type Parsed<T> = Result<T, String>;

impl Statement<'_> {
    fn statement(&mut self) -> Parsed<Vec<Ddl>> {
        let Some(verb) = self.any_word(&["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"]) else { return Ok(Vec::new()) };
        match verb {
            "CREATE" => self.create(),
            "ALTER" => self.alter(),
            "DROP" => self.drop(),
            "RENAME" => self.rename(),
            _ => {
                self.word("TABLE");
                let table = self.table_name()?;
                Ok(vec![Ddl::Truncate(table)])
            }
        }
    }

    fn create(&mut self) -> Parsed<Vec<Ddl>> {
        if self.word("OR") && !self.word("REPLACE") {
            return Err("expected REPLACE after CREATE OR".into());
        }
        if self.word("TEMPORARY") {
            return Ok(Vec::new()); // temporary tables are the session's own, not replicated
        }
        if self.any_word(&["DATABASE", "SCHEMA"]).is_some() {
            self.if_exists_clause();
            let database = self.identifier()?;
            return Ok(vec![Ddl::DatabaseCharset { charset: self.table_charset(), database }]);
        }
        if self.word("UNIQUE") {
            self.expect_word("INDEX")?;
            self.if_exists_clause();
            self.identifier()?;
            self.expect_word("ON")?;
            return Ok(vec![Ddl::Alter { table: self.table_name()?, ops: vec![AlterOp::UniqueKeys] }]);
        }
        if !self.word("TABLE") {
            return Ok(Vec::new()); // views, other indexes, triggers, users...
        }
        let if_not_exists = self.if_exists_clause();
        let table = self.table_name()?;
        if self.word("LIKE") {
            return Ok(vec![Ddl::Create { table, body: CreateBody::Like(self.table_name()?), if_not_exists }]);
        }
        if !self.token(&Token::LParen) {
            return Err("CREATE TABLE ... SELECT without a column list".into());
        }
        if self.word("LIKE") {
            let like = self.table_name()?;
            self.expect(&Token::RParen)?;
            return Ok(vec![Ddl::Create { table, body: CreateBody::Like(like), if_not_exists }]);
        }
        let mut columns = Vec::new();
        let mut primary_key = Vec::new();
        let mut unique_keys = Vec::new();
        loop {
            match self.definition_key()? {
                Some(Definition::PrimaryKey(key)) => primary_key = key.columns,
                Some(Definition::Unique(key)) if key.whole => unique_keys.push(key.columns),
                Some(_) => {}
                None => {
                    let def = self.column_def()?;
                    for option in &def.options {
                        match option.option {
                            ColumnOption::PrimaryKey(_) => primary_key = vec![def.name.value.clone()],
                            ColumnOption::Unique(_) => unique_keys.push(vec![def.name.value.clone()]),
                            _ => {}
                        }
                    }
                    columns.push(def);
                }
            }
            if self.token(&Token::RParen) {
                break;
            }
            self.expect(&Token::Comma)?;
        }
        // Table options, partitioning; a SELECT would add rows and columns of its own.
        let charset = self.table_charset();
        if self.selects {
            return Err("CREATE TABLE ... SELECT".into());
        }
        Ok(vec![Ddl::Create { table, body: CreateBody::Columns { columns, primary_key, unique_keys, charset }, if_not_exists }])
    }

    /// A table-level definition of CREATE TABLE that is not a column.
    fn definition_key(&mut self) -> Parsed<Option<Definition>> {
        if self.word("CONSTRAINT") {
            if !self.peek_word(&["PRIMARY", "UNIQUE", "FOREIGN", "CHECK"]) {
                self.identifier()?;
            }
        } else if !self.peek_word(&["PRIMARY", "KEY", "INDEX", "UNIQUE", "FULLTEXT", "SPATIAL", "FOREIGN", "CHECK"]) && !self.period_for() {
            return Ok(None);
        }
        if self.word("PRIMARY") {
            self.expect_word("KEY")?;
            return Ok(Some(Definition::PrimaryKey(self.key_parts("PRIMARY KEY")?)));
        }
        if self.word("UNIQUE") {
            return Ok(Some(Definition::Unique(self.key_parts("UNIQUE key")?)));
        }
        self.skip_definition();
        Ok(Some(Definition::Other))
    }

    fn alter(&mut self) -> Parsed<Vec<Ddl>> {
        while self.any_word(&["ONLINE", "IGNORE"]).is_some() {}
        if self.any_word(&["DATABASE", "SCHEMA"]).is_some() {
            let database =
                if self.peek_word(&["DEFAULT", "CHARACTER", "CHARSET", "COLLATE"]) { self.db.to_string() } else { self.identifier()? };
            return Ok(match self.table_charset() {
                Some(charset) => vec![Ddl::DatabaseCharset { database, charset: Some(charset) }],
                None => Vec::new(),
            });
        }
        if !self.word("TABLE") {
            return Ok(Vec::new());
        }
        self.if_exists_clause();
        let table = self.table_name()?;
        let mut ops = Vec::new();
        loop {
            if self.at_end() {
                break;
            }
            self.alter_op(&mut ops).map_err(|e| format!("ALTER TABLE {table}: {e}"))?;
            if !self.token(&Token::Comma) {
                if !self.at_end() {
                    return Err(format!("ALTER TABLE {table}: unexpected {}", self.p.peek_token().token));
                }
                break;
            }
        }
        Ok(vec![Ddl::Alter { table, ops }])
    }

    fn alter_op(&mut self, ops: &mut Vec<AlterOp>) -> Parsed<()> {
        if self.word("ADD") {
            if self.word("CONSTRAINT") && !self.peek_word(&["PRIMARY", "UNIQUE", "FOREIGN", "CHECK"]) {
                self.identifier()?;
            }
            if self.word("PRIMARY") {
                self.expect_word("KEY")?;
                ops.push(AlterOp::AddPrimaryKey(self.key_parts("PRIMARY KEY")?.columns));
                return Ok(());
            }
            if self.peek_word(&["UNIQUE"]) {
                ops.push(AlterOp::UniqueKeys);
                self.skip_definition();
                return Ok(());
            }
            if self.peek_word(&["KEY", "INDEX", "FULLTEXT", "SPATIAL", "FOREIGN", "CHECK", "PARTITION"]) || self.period_for() {
                self.skip_definition();
                return Ok(());
            }
            if self.peek_word(&["SYSTEM"]) {
                return Err("system versioning adds columns binlake does not follow".into());
            }
            self.word("COLUMN");
            let if_not_exists = self.if_exists_clause();
            if self.token(&Token::LParen) {
                loop {
                    let def = self.column_def()?;
                    ops.push(AlterOp::AddColumn { def, position: Position::Last, if_not_exists });
                    if self.token(&Token::RParen) {
                        return Ok(());
                    }
                    self.expect(&Token::Comma)?;
                }
            }
            let def = self.column_def()?;
            ops.push(AlterOp::AddColumn { def, position: self.position()?, if_not_exists });
            return Ok(());
        }
        if self.word("DROP") {
            if self.word("PRIMARY") {
                self.expect_word("KEY")?;
                ops.push(AlterOp::DropPrimaryKey);
                return Ok(());
            }
            if self.peek_word(&["PARTITION"]) {
                ops.push(AlterOp::RowsChanged);
                self.skip_definition();
                return Ok(());
            }
            if self.peek_word(&["INDEX", "KEY"]) {
                // DROP INDEX `PRIMARY` drops the primary key.
                self.p.next_token();
                let primary = matches!(&self.p.peek_token().token, Token::Word(w) if w.value.eq_ignore_ascii_case("PRIMARY"));
                ops.push(if primary { AlterOp::DropPrimaryKey } else { AlterOp::UniqueKeys });
                self.skip_definition();
                return Ok(());
            }
            if self.peek_word(&["FOREIGN", "CONSTRAINT", "CHECK"]) || self.period_for() {
                self.skip_definition();
                return Ok(());
            }
            if self.peek_word(&["SYSTEM"]) {
                return Err("system versioning removes columns binlake does not follow".into());
            }
            self.word("COLUMN");
            let if_exists = self.if_exists_clause();
            let name = self.identifier()?;
            self.any_word(&["RESTRICT", "CASCADE"]);
            ops.push(AlterOp::DropColumn { name, if_exists });
            return Ok(());
        }
        if let Some(verb) = self.any_word(&["CHANGE", "MODIFY"]) {
            self.word("COLUMN");
            let if_exists = self.if_exists_clause();
            let old = if verb == "CHANGE" { Some(self.identifier()?) } else { None };
            let def = self.column_def()?;
            let old = old.unwrap_or_else(|| def.name.value.clone());
            ops.push(AlterOp::ChangeColumn { old, def, position: self.position()?, if_exists });
            return Ok(());
        }
        if self.word("RENAME") {
            if self.word("COLUMN") {
                let old = self.identifier()?;
                self.expect_word("TO")?;
                ops.push(AlterOp::RenameColumn { old, new: self.identifier()? });
            } else if self.any_word(&["INDEX", "KEY"]).is_some() {
                self.skip_definition();
            } else {
                self.any_word(&["TO", "AS"]);
                ops.push(AlterOp::RenameTo(self.table_name()?));
            }
            return Ok(());
        }
        if self.word("ALTER") {
            self.word("COLUMN");
            let column = self.identifier()?;
            if self.word("SET") && self.word("DEFAULT") {
                let expr = self.p.parse_expr().map_err(|e| e.to_string())?;
                ops.push(AlterOp::SetDefault { column, default: literal(&expr) });
            } else if self.word("DROP") && self.word("DEFAULT") {
                ops.push(AlterOp::SetDefault { column, default: None });
            } else {
                self.skip_definition(); // SET VISIBLE / INVISIBLE
            }
            return Ok(());
        }
        if self.word("CONVERT") {
            self.expect_word("TO")?;
            let charset = self.table_charset().ok_or("CONVERT TO without a character set")?;
            ops.push(AlterOp::ConvertCharset(charset));
            return Ok(());
        }
        if self.peek_word(&["DEFAULT", "CHARACTER", "CHARSET", "COLLATE"]) {
            if let Some(charset) = self.table_charset() {
                ops.push(AlterOp::DefaultCharset(charset));
            }
            self.skip_definition();
            return Ok(());
        }
        if self.peek_word(&["TRUNCATE", "EXCHANGE", "DISCARD", "IMPORT"]) {
            ops.push(AlterOp::RowsChanged);
            self.skip_definition();
            return Ok(());
        }
        if self.peek_word(COLUMNLESS_OPTIONS) {
            self.skip_definition();
            return Ok(());
        }
        Err(format!("operation {} is not known to binlake", self.p.peek_token().token))
    }

    fn drop(&mut self) -> Parsed<Vec<Ddl>> {
        if self.word("TEMPORARY") {
            return Ok(Vec::new());
        }
        if self.any_word(&["DATABASE", "SCHEMA"]).is_some() {
            self.if_exists_clause();
            return Ok(vec![Ddl::DropDatabase(self.identifier()?)]);
        }
        if self.word("INDEX") {
            // DROP INDEX `PRIMARY` ON t drops the primary key.
            self.if_exists_clause();
            let primary = self.identifier()?.eq_ignore_ascii_case("PRIMARY");
            self.expect_word("ON")?;
            let table = self.table_name()?;
            return Ok(vec![Ddl::Alter { table, ops: vec![if primary { AlterOp::DropPrimaryKey } else { AlterOp::UniqueKeys }] }]);
        }
        if self.any_word(&["TABLE", "TABLES"]).is_none() {
            return Ok(Vec::new());
        }
        self.if_exists_clause();
        let mut tables = vec![self.table_name()?];
        while self.token(&Token::Comma) {
            tables.push(self.table_name()?);
        }
        Ok(vec![Ddl::Drop(tables)])
    }

    fn rename(&mut self) -> Parsed<Vec<Ddl>> {
        if self.any_word(&["TABLE", "TABLES"]).is_none() {
            return Ok(Vec::new()); // RENAME USER
        }
        let mut pairs = Vec::new();
        loop {
            let from = self.table_name()?;
            self.expect_word("TO")?;
            pairs.push((from, self.table_name()?));
            if !self.token(&Token::Comma) {
                break;
            }
        }
        Ok(vec![Ddl::Rename(pairs)])
    }

    fn column_def(&mut self) -> Parsed<ColumnDef> {
        self.p.parse_column_def().map_err(|e| e.to_string())
    }

    /// FIRST | AFTER column | nothing.
    fn position(&mut self) -> Parsed<Position> {
        Ok(if self.word("FIRST") {
            Position::First
        } else if self.word("AFTER") {
            Position::After(self.identifier()?)
        } else {
            Position::Last
        })
    }

    /// After PRIMARY KEY or UNIQUE: `[INDEX|KEY] [name] [USING x] (part, ...) [options]`, each
    /// part `col [(len)] [ASC|DESC]` or (MySQL's functional parts) `(expr) [ASC|DESC]`.
    fn key_parts(&mut self, what: &str) -> Parsed<KeyDef> {
        while !self.token(&Token::LParen) {
            if self.at_end() {
                return Err(format!("{what} without columns"));
            }
            self.p.next_token();
        }
        let mut key = KeyDef { columns: Vec::new(), whole: true };
        loop {
            if self.p.peek_token().token == Token::LParen {
                key.whole = false;
            } else {
                key.columns.push(self.identifier()?);
            }
            // a prefix length or an expression, ASC/DESC
            let mut depth = 0;
            loop {
                match self.p.peek_token().token {
                    Token::LParen => {
                        key.whole = false;
                        depth += 1
                    }
                    Token::RParen if depth > 0 => depth -= 1,
                    Token::RParen | Token::Comma if depth == 0 => break,
                    Token::EOF => return Err(format!("unterminated {what}")),
                    _ => {}
                }
                self.p.next_token();
            }
            if self.token(&Token::RParen) {
                break;
            }
            self.expect(&Token::Comma)?;
        }
        self.skip_definition(); // USING BTREE, COMMENT ...
        Ok(key)
    }

    /// A `[DEFAULT] CHARACTER SET [=] x` or `[DEFAULT] COLLATE [=] y` among table options:
    /// the character set (a collation's is its prefix). Consumes the rest of the statement
    /// up to the next top-level comma only when one is found.
    fn table_charset(&mut self) -> Option<String> {
        let mut depth = 0;
        let mut found = None;
        loop {
            let token = self.p.peek_token().token;
            match &token {
                Token::EOF | Token::SemiColon => break,
                Token::Comma if depth == 0 => break,
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break,
                Token::RParen => depth -= 1,
                Token::Word(w) if depth == 0 && w.quote_style.is_none() && w.value.eq_ignore_ascii_case("SELECT") => self.selects = true,
                Token::Word(w) if depth == 0 && found.is_none() => {
                    let upper = w.value.to_ascii_uppercase();
                    let collation = upper == "COLLATE";
                    if upper == "CHARSET" || upper == "CHARACTER" || collation {
                        self.p.next_token();
                        self.word("SET");
                        self.token(&Token::Eq);
                        if let Some(name) = self.name_token() {
                            let name = name.to_ascii_lowercase();
                            found = Some(if collation { charset_of_collation(&name) } else { normalize_charset(&name) });
                        }
                        continue;
                    }
                }
                _ => {}
            }
            self.p.next_token();
        }
        found
    }

    /// Skips to the next top-level comma (or the end).
    fn skip_definition(&mut self) {
        let mut depth = 0;
        loop {
            match self.p.peek_token().token {
                Token::EOF | Token::SemiColon => return,
                Token::Comma | Token::RParen if depth == 0 => return,
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ => {}
            }
            self.p.next_token();
        }
    }

    /// `[IF [NOT] EXISTS]`; true when present.
    fn if_exists_clause(&mut self) -> bool {
        if self.peek_word(&["IF"]) {
            self.p.next_token();
            self.word("NOT");
            self.word("EXISTS");
            true
        } else {
            false
        }
    }

    fn table_name(&mut self) -> Parsed<TableId> {
        let first = self.identifier()?;
        if self.token(&Token::Period) { Ok(TableId::new(first, self.identifier()?)) } else { Ok(TableId::new(self.db, first)) }
    }

    fn identifier(&mut self) -> Parsed<String> {
        match self.p.next_token().token {
            Token::Word(Word { value, .. }) => Ok(value),
            other => Err(format!("expected a name, found {other}")),
        }
    }

    /// A name or a quoted string (`CHARACTER SET 'utf8mb4'`).
    fn name_token(&mut self) -> Option<String> {
        match self.p.next_token().token {
            Token::Word(Word { value, .. }) | Token::SingleQuotedString(value) | Token::DoubleQuotedString(value) => Some(value),
            _ => None,
        }
    }

    fn at_end(&self) -> bool {
        matches!(self.p.peek_token().token, Token::EOF | Token::SemiColon)
    }

    fn token(&mut self, t: &Token) -> bool {
        self.p.consume_token(t)
    }

    fn expect(&mut self, t: &Token) -> Parsed<()> {
        self.p.expect_token(t).map(|_| ()).map_err(|e| e.to_string())
    }

    /// MariaDB's `PERIOD FOR name (start, end)`: no column of its own.
    fn period_for(&self) -> bool {
        let [a, b] = self.p.peek_tokens::<2>();
        let is = |t: &Token, w: &str| matches!(t, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
        is(&a, "PERIOD") && is(&b, "FOR")
    }

    fn peek_word(&self, words: &[&str]) -> bool {
        matches!(&self.p.peek_token().token, Token::Word(w) if w.quote_style.is_none() && words.iter().any(|x| w.value.eq_ignore_ascii_case(x)))
    }

    /// Consumes the next token when it is one of `words` (unquoted), returning which.
    fn any_word<'w>(&mut self, words: &[&'w str]) -> Option<&'w str> {
        let Token::Word(w) = self.p.peek_token().token else { return None };
        let hit = words.iter().find(|x| w.quote_style.is_none() && w.value.eq_ignore_ascii_case(x))?;
        self.p.next_token();
        Some(hit)
    }

    fn word(&mut self, word: &str) -> bool {
        self.any_word(&[word]).is_some()
    }

    fn expect_word(&mut self, word: &str) -> Parsed<()> {
        if self.word(word) { Ok(()) } else { Err(format!("expected {word}, found {}", self.p.peek_token().token)) }
    }
}

/// ALTER TABLE operations that change no column, no key and no character set.
const COLUMNLESS_OPTIONS: &[&str] = &[
    "ALGORITHM",
    "ANALYZE",
    "AUTO_INCREMENT",
    "AVG_ROW_LENGTH",
    "CHECK",
    "CHECKSUM",
    "COALESCE",
    "COMMENT",
    "COMPRESSION",
    "CONNECTION",
    "DATA",
    "DELAY_KEY_WRITE",
    "DISABLE",
    "ENABLE",
    "ENCRYPTED",
    "ENCRYPTION",
    "ENCRYPTION_KEY_ID",
    "ENGINE",
    "FORCE",
    "IETF_QUOTES",
    "INDEX",
    "INSERT_METHOD",
    "KEY_BLOCK_SIZE",
    "LOCK",
    "MAX_ROWS",
    "MIN_ROWS",
    "NOWAIT",
    "OPTIMIZE",
    "ORDER",
    "PACK_KEYS",
    "PAGE_CHECKSUM",
    "PAGE_COMPRESSED",
    "PAGE_COMPRESSION_LEVEL",
    "PARTITION",
    "PASSWORD",
    "REBUILD",
    "REMOVE",
    "REORGANIZE",
    "REPAIR",
    "ROW_FORMAT",
    "SECONDARY_ENGINE",
    "STATS_AUTO_RECALC",
    "STATS_PERSISTENT",
    "STATS_SAMPLE_PAGES",
    "TABLESPACE",
    "TRANSACTIONAL",
    "UNION",
    "WAIT",
];

/// A column's constant default as binlake keeps it (see [`crate::schema::Column::default`]):
/// the value's text, `None` for NULL and expressions.
pub fn literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.clone()),
            Value::Boolean(b) => Some(if *b { "1" } else { "0" }.into()),
            _ => None,
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => literal(expr).map(|v| format!("-{v}")),
        Expr::Nested(e) => literal(e),
        _ => None,
    }
}

/// The column default a definition declares.
pub fn default_of(def: &ColumnDef) -> Option<String> {
    def.options.iter().find_map(|o| match &o.option {
        ColumnOption::Default(e) => Some(literal(e)),
        _ => None,
    })?
}

/// Whether the server computes the values a column added to a table with rows gets, values
/// no row event carries: a generated column, AUTO_INCREMENT, or a default that is an
/// expression (`CURRENT_TIMESTAMP`, `(UUID())`).
pub fn computed_on_add(def: &ColumnDef) -> bool {
    def.options.iter().any(|o| match &o.option {
        ColumnOption::Generated { .. } | ColumnOption::Materialized(_) => true,
        ColumnOption::DialectSpecific(tokens) => tokens.iter().any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")),
        ColumnOption::Default(e) => literal(e).is_none() && !matches!(e, Expr::Value(v) if v.value == Value::Null),
        _ => false,
    })
}

/// `utf8` is `utf8mb3` in what servers report.
pub fn normalize_charset(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "utf8" => "utf8mb3".into(),
        other => other.into(),
    }
}

/// A collation's character set: its name up to the first `_` (`latin1_swedish_ci`).
pub fn charset_of_collation(collation: &str) -> String {
    normalize_charset(collation.split('_').next().unwrap_or(collation))
}

/// The type of a parsed column definition, as `information_schema` would show it:
/// (DATA_TYPE, COLUMN_TYPE, precision, scale, datetime precision).
pub fn information_schema_type(ty: &DataType) -> (String, String, Option<u64>, Option<u64>, Option<u64>) {
    let text = ty.to_string();
    let upper = text.to_ascii_uppercase();
    let unsigned = upper.contains(" UNSIGNED");
    let base: String = upper.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ' ').collect();
    let base = base.trim().trim_end_matches(" UNSIGNED").trim_end_matches(" ZEROFILL").trim().to_string();
    let args: Vec<u64> = upper
        .find('(')
        .map(|open| {
            let close = upper[open..].find(')').map_or(upper.len(), |c| open + c);
            upper[open + 1..close].split(',').filter_map(|a| a.trim().parse().ok()).collect()
        })
        .unwrap_or_default();
    let sign = if unsigned { " unsigned" } else { "" };
    let int = |name: &str| (name.to_string(), format!("{name}{sign}"), None, None, None);
    let arg = |i: usize| args.get(i).copied();
    match base.as_str() {
        "TINYINT" | "INT1" if arg(0) == Some(1) => ("tinyint".into(), format!("tinyint(1){sign}"), None, None, None),
        "TINYINT" | "INT1" => int("tinyint"),
        "BOOL" | "BOOLEAN" => ("tinyint".into(), "tinyint(1)".into(), None, None, None),
        "SMALLINT" | "INT2" => int("smallint"),
        "MEDIUMINT" | "INT3" | "MIDDLEINT" => int("mediumint"),
        "INT" | "INTEGER" | "INT4" => int("int"),
        "BIGINT" | "INT8" => int("bigint"),
        "SERIAL" => ("bigint".into(), "bigint unsigned".into(), None, None, None),
        "DECIMAL" | "DEC" | "NUMERIC" | "FIXED" => {
            let (p, s) = (arg(0).unwrap_or(10), arg(1).unwrap_or(0));
            ("decimal".into(), format!("decimal({p},{s}){sign}"), Some(p), Some(s), None)
        }
        "FLOAT" if args.len() == 1 && args[0] > 24 => int("double"),
        "FLOAT" | "FLOAT4" => int("float"),
        "DOUBLE" | "DOUBLE PRECISION" | "REAL" | "FLOAT8" => int("double"),
        "BIT" => ("bit".into(), text.to_ascii_lowercase(), Some(arg(0).unwrap_or(1)), None, None),
        "TIME" | "DATETIME" | "TIMESTAMP" => (base.to_ascii_lowercase(), text.to_ascii_lowercase(), None, None, Some(arg(0).unwrap_or(0))),
        "CHARACTER" | "NCHAR" | "NATIONAL CHAR" | "NATIONAL CHARACTER" => ("char".into(), text.to_ascii_lowercase(), arg(0), None, None),
        "CHARACTER VARYING" | "NVARCHAR" | "NATIONAL VARCHAR" => ("varchar".into(), text.to_ascii_lowercase(), arg(0), None, None),
        // MySQL's LONG and LONG VARCHAR are MEDIUMTEXT.
        "LONG" | "LONG VARCHAR" => ("mediumtext".into(), "mediumtext".into(), None, None, None),
        "ENUM" | "SET" => {
            let labels: Vec<String> = match ty {
                DataType::Enum(members, _) => members
                    .iter()
                    .map(|m| match m {
                        sqlparser::ast::EnumMember::Name(n) | sqlparser::ast::EnumMember::NamedValue(n, _) => n.clone(),
                    })
                    .collect(),
                DataType::Set(labels) => labels.clone(),
                _ => Vec::new(),
            };
            let quoted: Vec<String> = labels.iter().map(|l| format!("'{}'", l.replace('\'', "''"))).collect();
            let name = base.to_ascii_lowercase();
            (name.clone(), format!("{name}({})", quoted.join(",")), None, None, None)
        }
        other => (other.to_ascii_lowercase(), text.to_ascii_lowercase(), arg(0), arg(1), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(q: &str) -> Ddl {
        let mut all = parse(q, "shop");
        assert_eq!(all.len(), 1, "{q}: {all:?}");
        all.remove(0)
    }

    fn ops(q: &str) -> Vec<AlterOp> {
        match one(q) {
            Ddl::Alter { ops, .. } => ops,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn alter_table_operations() {
        let ops = ops(
            "ALTER TABLE `shop`.`t` ADD COLUMN c INT UNSIGNED NOT NULL DEFAULT 5 AFTER a, DROP COLUMN b, MODIFY COLUMN d DECIMAL(14,2), \
             CHANGE e f VARCHAR(10) CHARACTER SET latin1 FIRST, RENAME COLUMN g TO h, ALGORITHM=INPLACE, LOCK=NONE, ADD INDEX i (a), \
             DROP PRIMARY KEY, ADD PRIMARY KEY (a, b(10) DESC), ALTER COLUMN x SET DEFAULT 'US', ALTER y DROP DEFAULT, ENGINE=InnoDB",
        );
        assert_eq!(ops.len(), 9, "{ops:?}");
        assert!(
            matches!(&ops[0], AlterOp::AddColumn { def, position: Position::After(a), .. } if def.name.value == "c" && a == "a" && default_of(def).as_deref() == Some("5"))
        );
        assert!(matches!(&ops[1], AlterOp::DropColumn { name, .. } if name == "b"));
        assert!(matches!(&ops[2], AlterOp::ChangeColumn { old, def, .. } if old == "d" && def.name.value == "d"));
        assert!(
            matches!(&ops[3], AlterOp::ChangeColumn { old, def, position: Position::First, .. } if old == "e" && def.name.value == "f")
        );
        assert_eq!(ops[4], AlterOp::RenameColumn { old: "g".into(), new: "h".into() });
        assert_eq!(ops[5], AlterOp::DropPrimaryKey);
        assert_eq!(ops[6], AlterOp::AddPrimaryKey(vec!["a".into(), "b".into()]));
        assert_eq!(ops[7], AlterOp::SetDefault { column: "x".into(), default: Some("US".into()) });
        assert_eq!(ops[8], AlterOp::SetDefault { column: "y".into(), default: None });
    }

    #[test]
    fn mariadb_forms_and_charsets() {
        assert!(matches!(
            &ops("ALTER ONLINE IGNORE TABLE t ADD COLUMN IF NOT EXISTS (a INT, b INT)")[..],
            [AlterOp::AddColumn { if_not_exists: true, .. }, AlterOp::AddColumn { .. }]
        ));
        assert_eq!(ops("ALTER TABLE t CONVERT TO CHARACTER SET utf8 COLLATE utf8_bin"), vec![AlterOp::ConvertCharset("utf8mb3".into())]);
        assert_eq!(ops("ALTER TABLE t DEFAULT CHARSET=latin1"), vec![AlterOp::DefaultCharset("latin1".into())]);
        assert_eq!(ops("ALTER TABLE t COLLATE utf8mb4_bin"), vec![AlterOp::DefaultCharset("utf8mb4".into())]);
        assert_eq!(ops("ALTER TABLE t ENGINE=InnoDB, FORCE"), vec![]);
        assert_eq!(ops("ALTER TABLE t RENAME t2"), vec![AlterOp::RenameTo(TableId::new("shop", "t2"))]);
        assert_eq!(ops("alter table t rename to other.t2"), vec![AlterOp::RenameTo(TableId::new("other", "t2"))]);
        assert_eq!(ops("ALTER TABLE t DROP c"), vec![AlterOp::DropColumn { name: "c".into(), if_exists: false }]);
    }

    #[test]
    fn table_statements() {
        assert_eq!(
            one("rename /* gh-ost */ table `shop`.`t` to `shop`.`_t_del`, `shop`.`_t_gho` to `shop`.`t`"),
            Ddl::Rename(vec![
                (TableId::new("shop", "t"), TableId::new("shop", "_t_del")),
                (TableId::new("shop", "_t_gho"), TableId::new("shop", "t"))
            ])
        );
        assert_eq!(
            one("DROP TABLE IF EXISTS `a`,other.`b` /* generated by server */"),
            Ddl::Drop(vec![TableId::new("shop", "a"), TableId::new("other", "b")])
        );
        assert_eq!(one("TRUNCATE t"), Ddl::Truncate(TableId::new("shop", "t")));
        assert_eq!(one("TRUNCATE TABLE x.t"), Ddl::Truncate(TableId::new("x", "t")));
        assert_eq!(
            one("create /* gh-ost */ table `shop`.`_t_gho` like `shop`.`t`"),
            Ddl::Create { table: TableId::new("shop", "_t_gho"), body: CreateBody::Like(TableId::new("shop", "t")), if_not_exists: false }
        );
        assert_eq!(
            one("CREATE TABLE IF NOT EXISTS t2 (LIKE t)"),
            Ddl::Create { table: TableId::new("shop", "t2"), body: CreateBody::Like(TableId::new("shop", "t")), if_not_exists: true }
        );
        assert_eq!(one("DROP DATABASE IF EXISTS shop"), Ddl::DropDatabase("shop".into()));
        assert_eq!(
            one("CREATE DATABASE d CHARACTER SET latin1"),
            Ddl::DatabaseCharset { database: "d".into(), charset: Some("latin1".into()) }
        );
        for ignored in [
            "DROP TEMPORARY TABLE IF EXISTS t",
            "CREATE INDEX i ON t (a)",
            "GRANT SELECT ON *.* TO x",
            "CREATE VIEW v AS SELECT 1",
            "FLUSH TABLES",
        ] {
            assert_eq!(parse(ignored, "shop"), vec![], "{ignored}");
        }
    }

    #[test]
    fn create_table_with_keys_and_options() {
        let Ddl::Create { table, body: CreateBody::Columns { columns, primary_key, unique_keys, charset }, .. } =
            one("CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT, name VARCHAR(50) CHARACTER SET utf8mb4, e ENUM('a','b''c'), \
             CONSTRAINT pk PRIMARY KEY (id, name), KEY idx (name), UNIQUE KEY u (e), FOREIGN KEY (id) REFERENCES x(id)) \
             ENGINE=InnoDB DEFAULT CHARSET=latin1 PARTITION BY HASH(id) PARTITIONS 4")
        else {
            panic!()
        };
        assert_eq!(table, TableId::new("shop", "t"));
        assert_eq!(columns.iter().map(|c| c.name.value.as_str()).collect::<Vec<_>>(), ["id", "name", "e"]);
        assert_eq!(primary_key, ["id", "name"]);
        assert_eq!(unique_keys, [["e"]]);
        assert_eq!(charset.as_deref(), Some("latin1"));
        let Ddl::Create { body: CreateBody::Columns { primary_key, charset, .. }, .. } = one("CREATE TABLE t (k BIGINT PRIMARY KEY)")
        else {
            panic!()
        };
        assert_eq!((primary_key, charset), (vec!["k".to_string()], None));
    }

    #[test]
    fn unique_keys_of_whole_columns_are_read_in_definition_order() {
        let Ddl::Create { body: CreateBody::Columns { primary_key, unique_keys, .. }, .. } =
            one("CREATE TABLE t (a INT NOT NULL UNIQUE, b VARCHAR(20) NOT NULL, c INT, d TEXT, \
             UNIQUE KEY pre (b(5)), CONSTRAINT two UNIQUE (c, a DESC), UNIQUE INDEX f ((a + 1)), UNIQUE USING BTREE (d))")
        else {
            panic!()
        };
        assert!(primary_key.is_empty());
        // The prefix and the expression cannot stand for a row; the tracker leaves out TEXT.
        assert_eq!(unique_keys, [vec!["a"], vec!["c", "a"], vec!["d"]]);
        for q in [
            "ALTER TABLE t ADD UNIQUE (a)",
            "ALTER TABLE t ADD CONSTRAINT u UNIQUE KEY (a)",
            "ALTER TABLE t DROP INDEX u",
            "ALTER TABLE t DROP KEY u",
            "CREATE UNIQUE INDEX u ON t (a)",
            "DROP INDEX u ON t",
        ] {
            assert_eq!(one(q), Ddl::Alter { table: TableId::new("shop", "t"), ops: vec![AlterOp::UniqueKeys] }, "{q}");
        }
        assert_eq!(one("ALTER TABLE t ADD INDEX i (a)"), Ddl::Alter { table: TableId::new("shop", "t"), ops: vec![] });
    }

    #[test]
    fn what_cannot_be_followed_is_unparsed_with_its_table() {
        for q in ["CREATE TABLE t3 AS SELECT * FROM t", "ALTER TABLE t FROBNICATE", "ALTER TABLE t ADD COLUMN (a INT"] {
            assert!(matches!(one(q), Ddl::Unparsed { table: Some(ref t), .. } if t.table.starts_with('t')), "{q}");
        }
    }

    #[test]
    fn types_read_like_information_schema() {
        let ty = |t: &str| {
            let def = Parser::new(&MySqlDialect {}).try_with_sql(&format!("c {t}")).unwrap().parse_column_def().unwrap();
            let (d, c, p, s, f) = information_schema_type(&def.data_type);
            format!("{d}|{c}|{p:?}|{s:?}|{f:?}")
        };
        assert_eq!(ty("INT UNSIGNED"), "int|int unsigned|None|None|None");
        assert_eq!(ty("BIGINT(20) UNSIGNED ZEROFILL"), "bigint|bigint unsigned|None|None|None");
        assert_eq!(ty("TINYINT(1)"), "tinyint|tinyint(1)|None|None|None");
        assert_eq!(ty("BOOLEAN"), "tinyint|tinyint(1)|None|None|None");
        assert_eq!(ty("DECIMAL"), "decimal|decimal(10,0)|Some(10)|Some(0)|None");
        assert_eq!(ty("NUMERIC(5)"), "decimal|decimal(5,0)|Some(5)|Some(0)|None");
        assert_eq!(ty("FLOAT(30)"), "double|double|None|None|None");
        assert_eq!(ty("DATETIME(6)"), "datetime|datetime(6)|None|None|Some(6)");
        assert_eq!(ty("TIMESTAMP"), "timestamp|timestamp|None|None|Some(0)");
        assert_eq!(ty("BIT(3)"), "bit|bit(3)|Some(3)|None|None");
        assert_eq!(ty("ENUM('a','b''c')"), "enum|enum('a','b''c')|None|None|None");
        assert_eq!(ty("VARCHAR(20)"), "varchar|varchar(20)|Some(20)|None|None");
        assert_eq!(ty("INET6"), "inet6|inet6|None|None|None");
        assert_eq!(ty("LONGBLOB"), "longblob|longblob|None|None|None");
    }
}
