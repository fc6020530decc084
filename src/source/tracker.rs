//! The schemas of the replicated tables as the binlog goes: each DDL is applied where it
//! happens, so every row is decoded with the schema its table had when it was written.
//!
//! What a DDL does to a replicated table:
//! - ALTER TABLE: its schema changes in place ([`Effect::Schema`]).
//! - CREATE TABLE, RENAME of another table to its name, TRUNCATE: it is loaded anew from a
//!   consistent snapshot ([`Effect::Reload`]); its binlog events up to that snapshot are
//!   skipped, the snapshot holds them.
//! - DROP TABLE, DROP DATABASE, RENAME to a name not replicated: it stops ([`Effect::Gone`]).
//! - an online schema change tool's swap (gh-ost's `_t_gho`, pt-online-schema-change's
//!   `_t_new` renamed over `t`): the shadow table's schema, followed from its CREATE and
//!   ALTERs, becomes the table's; its rows are the same, so nothing is reloaded.
//! - a statement binlake cannot follow: [`Effect::Unknown`], for the caller to resolve.

use std::collections::HashMap;
use std::sync::Arc;

use mysql_async::binlog::events::TableMapEvent;
use sqlparser::ast::{ColumnDef, ColumnOption, ObjectName};

use crate::position::BinlogPos;
use crate::schema::{Column, ColumnType, InformationSchemaColumn, SchemaOptions, TableFilter, TableId, TableSchema, max_bytes_per_char};
use crate::source::Charsets;
use crate::source::binlog::Catalog;
use crate::source::ddl::{self, AlterOp, CreateBody, Ddl, Position};

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The table's schema is now this one; `renamed` are the columns that were renamed
    /// (old, new), whose values stay.
    Schema { schema: Arc<TableSchema>, renamed: Vec<(String, String)> },
    /// The table is gone: its files stop.
    Gone(TableId),
    /// The table must be loaded anew from a snapshot.
    Reload { table: TableId, why: String },
    /// binlake could not follow what the statement did to the table.
    Unknown { table: TableId, reason: String },
}

impl Effect {
    pub fn table(&self) -> &TableId {
        match self {
            Effect::Schema { schema, .. } => &schema.id,
            Effect::Gone(t) | Effect::Reload { table: t, .. } | Effect::Unknown { table: t, .. } => t,
        }
    }
}

pub struct Tracker {
    filter: TableFilter,
    options: SchemaOptions,
    mariadb: bool,
    /// Replicated tables and the shadow tables of online schema changes on them.
    tables: HashMap<TableId, Arc<TableSchema>>,
    /// Replicated tables whose LOAD files hold them as of a snapshot: their events and DDL up
    /// to that position are already in those files and in their schema.
    loaded_at: HashMap<TableId, BinlogPos>,
    db_charsets: HashMap<String, String>,
    server_charset: String,
    /// Column renames made on shadow tables, which their swap brings to the table.
    shadow_renames: HashMap<TableId, Vec<(String, String)>>,
    /// The tables binlake loaded: replicated whatever their names.
    loaded: std::collections::HashSet<TableId>,
}

impl Tracker {
    pub fn new(filter: TableFilter, options: SchemaOptions, mariadb: bool, charsets: Charsets) -> Self {
        Self {
            filter,
            options,
            mariadb,
            tables: HashMap::new(),
            loaded_at: HashMap::new(),
            db_charsets: charsets.databases,
            server_charset: charsets.server,
            shadow_renames: HashMap::new(),
            loaded: Default::default(),
        }
    }

    /// Starts tracking `schema`; with `loaded_at`, the table's events up to there are skipped.
    pub fn insert(&mut self, schema: Arc<TableSchema>, loaded_at: Option<BinlogPos>) {
        if let Some(at) = loaded_at {
            self.loaded_at.insert(schema.id.clone(), at);
        }
        self.loaded.insert(schema.id.clone());
        self.tables.insert(schema.id.clone(), schema);
    }

    /// Stops skipping events up to the tables' snapshots.
    pub fn forget_snapshots(&mut self) {
        self.loaded_at.clear();
    }

    /// The replicated tables being tracked.
    pub fn replicated_tables(&self) -> impl Iterator<Item = &Arc<TableSchema>> {
        self.tables.values().filter(|t| self.replicated(&t.id))
    }

    /// Selected by the table filter and not the shadow table of a selected one.
    pub fn replicated(&self, id: &TableId) -> bool {
        self.filter.matches(&id.database, &id.table) && !self.is_shadow(id)
    }

    /// Named like an online schema change's helper table of a selected table, and not a
    /// table binlake loaded as one of its own.
    fn is_shadow(&self, id: &TableId) -> bool {
        !self.loaded.contains(id) && shadow_base(id).is_some_and(|base| self.filter.matches(&base.database, &base.table))
    }

    /// The replicated table a statement's `id` names, when a change of it at `at` belongs in
    /// its files (it is not already in its LOAD files there). Names match as the server may
    /// match them (lower_case_table_names): exactly, else ignoring case.
    pub fn followed(&self, id: &TableId, at: &BinlogPos) -> Option<TableId> {
        let found = match self.tables.get_key_value(id) {
            Some((found, _)) => found,
            None => {
                self.tables.keys().find(|t| t.database.eq_ignore_ascii_case(&id.database) && t.table.eq_ignore_ascii_case(&id.table))?
            }
        };
        (self.replicated(found) && !self.loaded_after(found, at)).then(|| found.clone())
    }

    /// True when a DDL at `at` on `id` is already part of the table's snapshot.
    fn loaded_after(&self, id: &TableId, at: &BinlogPos) -> bool {
        self.loaded_at.get(id).is_some_and(|s| at <= s)
    }

    /// Applies the schema changes of the statement `query` that ended at `at`.
    pub fn apply(&mut self, ddls: Vec<Ddl>, query: &str, at: &BinlogPos) -> Vec<Effect> {
        let mut effects = Vec::new();
        for ddl in ddls {
            match ddl {
                Ddl::Create { table, body, if_not_exists } => {
                    // An application's CREATE TABLE IF NOT EXISTS at each start leaves the
                    // table as it is.
                    if self.loaded_after(&table, at) || (if_not_exists && self.tables.contains_key(&table)) {
                        continue;
                    }
                    if self.replicated(&table) {
                        self.tables.remove(&table);
                        effects.push(Effect::Reload { table, why: "it was created".into() });
                    } else if self.is_shadow(&table) {
                        match self.created(&table, body) {
                            Ok(schema) => self.tables.insert(table, Arc::new(schema)),
                            Err(_) => self.tables.remove(&table), // its swap, if any, reloads the table
                        };
                    }
                }
                Ddl::Alter { table, mut ops } => {
                    if self.loaded_after(&table, at) || !self.tables.contains_key(&table) {
                        continue;
                    }
                    let rename = ops.iter().rev().find_map(|op| match op {
                        AlterOp::RenameTo(to) => Some(to.clone()),
                        _ => None,
                    });
                    ops.retain(|op| !matches!(op, AlterOp::RenameTo(_)));
                    match self.altered(&self.tables[&table], &ops) {
                        Ok(Altered { schema, renamed, rows_changed, rekeyed }) => {
                            let schema = Arc::new(schema);
                            if self.replicated(&table) {
                                if rows_changed {
                                    effects.push(Effect::Reload {
                                        table: table.clone(),
                                        why: "the statement changed rows without row events (a column the server fills, a column dropped and added again, a partition or tablespace operation)".into(),
                                    });
                                } else if rekeyed {
                                    effects.push(Effect::Reload {
                                        table: table.clone(),
                                        why: "the statement may change the key that identifies its rows (its primary key, or the UNIQUE key of NOT NULL columns of a table without one)".into(),
                                    });
                                } else if schema != self.tables[&table] {
                                    effects.push(Effect::Schema { schema: schema.clone(), renamed });
                                }
                                self.tables.insert(table.clone(), schema);
                            } else if rekeyed {
                                self.tables.remove(&table); // its swap, if any, reloads the table
                            } else {
                                self.shadow_renames.entry(table.clone()).or_default().extend(renamed);
                                self.tables.insert(table.clone(), schema);
                            }
                        }
                        Err(reason) if self.replicated(&table) => effects.push(Effect::Unknown { table: table.clone(), reason }),
                        Err(_) => {
                            self.tables.remove(&table);
                        }
                    }
                    if let Some(to) = rename {
                        self.rename(table, to, at, &mut effects);
                    }
                }
                Ddl::Rename(pairs) => {
                    for (from, to) in pairs {
                        self.rename(from, to, at, &mut effects);
                    }
                }
                Ddl::Drop(tables) => {
                    for table in tables {
                        if self.loaded_after(&table, at) {
                            continue;
                        }
                        if self.tables.remove(&table).is_some() && self.replicated(&table) {
                            effects.push(Effect::Gone(table));
                        }
                    }
                }
                Ddl::Truncate(table) => {
                    if self.replicated(&table) && self.tables.contains_key(&table) && !self.loaded_after(&table, at) {
                        effects.push(Effect::Reload { table, why: "it was truncated".into() });
                    }
                }
                Ddl::DropDatabase(database) => {
                    let gone: Vec<TableId> =
                        self.tables.keys().filter(|t| t.database == database && !self.loaded_after(t, at)).cloned().collect();
                    for table in gone {
                        self.tables.remove(&table);
                        if self.replicated(&table) {
                            effects.push(Effect::Gone(table));
                        }
                    }
                }
                Ddl::DatabaseCharset { database, charset } => {
                    self.db_charsets.insert(database, charset.unwrap_or_else(|| self.server_charset.clone()));
                }
                Ddl::Unparsed { table, reason } => {
                    // Without a table name, any replicated table the text names may be involved.
                    let tables: Vec<TableId> = match table {
                        Some(t) => vec![t],
                        None => self.tables.keys().filter(|t| query.contains(&t.table)).cloned().collect(),
                    };
                    for table in tables {
                        if !self.tables.contains_key(&table) || self.loaded_after(&table, at) {
                            continue;
                        }
                        if self.replicated(&table) {
                            effects.push(Effect::Unknown { table, reason: reason.clone() });
                        } else {
                            self.tables.remove(&table);
                        }
                    }
                }
            }
        }
        // One effect per table, the last one: a table renamed away and a shadow renamed to
        // its name (an online schema change's swap) has only its new schema.
        let mut last: Vec<Effect> = Vec::new();
        for effect in effects {
            last.retain(|e| e.table() != effect.table());
            last.push(effect);
        }
        last
    }

    fn rename(&mut self, from: TableId, to: TableId, at: &BinlogPos, effects: &mut Vec<Effect>) {
        // A table loaded after the statement is what the name holds then: left as it is.
        let schema = if self.loaded_after(&from, at) { None } else { self.tables.remove(&from) };
        let renamed = self.shadow_renames.remove(&from).unwrap_or_default();
        if schema.is_some() && self.replicated(&from) {
            effects.push(Effect::Gone(from.clone()));
        }
        if self.loaded_after(&to, at) {
            return;
        }
        if self.replicated(&to) {
            match schema {
                Some(schema) if shadow_base(&from).as_ref() == Some(&to) => {
                    let schema = Arc::new(TableSchema { id: to.clone(), ..(*schema).clone() });
                    self.tables.insert(to, schema.clone());
                    effects.push(Effect::Schema { schema, renamed });
                }
                _ => {
                    self.tables.remove(&to);
                    effects.push(Effect::Reload { why: format!("{from} was renamed to it"), table: to });
                }
            }
        } else if let Some(schema) = schema.filter(|_| self.is_shadow(&to)) {
            self.shadow_renames.insert(to.clone(), renamed);
            self.tables.insert(to.clone(), Arc::new(TableSchema { id: to, ..(*schema).clone() }));
        }
    }

    fn created(&self, table: &TableId, body: CreateBody) -> Result<TableSchema, String> {
        match body {
            CreateBody::Like(source) => {
                let schema = self.tables.get(&source).ok_or_else(|| format!("{source} is not followed"))?;
                Ok(TableSchema { id: table.clone(), ..(**schema).clone() })
            }
            CreateBody::Columns { columns, primary_key, unique_keys, charset } => {
                let charset =
                    charset.or_else(|| self.db_charsets.get(&table.database).cloned()).unwrap_or_else(|| self.server_charset.clone());
                let mut schema = TableSchema::new(table.clone(), Vec::new(), Vec::new(), Some(charset));
                for def in &columns {
                    schema.columns.push(self.column(
                        def,
                        schema.charset.as_deref(),
                        primary_key.iter().any(|k| k.eq_ignore_ascii_case(&def.name.value)),
                    )?);
                }
                schema.primary_key = primary_key.iter().map(|name| index_of(&schema.columns, name)).collect::<Result<_, _>>()?;
                if schema.primary_key.is_empty() {
                    for key in &unique_keys {
                        let key: Vec<usize> = key.iter().map(|name| index_of(&schema.columns, name)).collect::<Result<_, _>>()?;
                        if !key.iter().any(|&i| schema.columns[i].unique_is_hashed()) {
                            schema.unique_keys.push(key);
                        }
                    }
                    schema.choose_row_key();
                }
                Ok(schema)
            }
        }
    }

    /// The table after an ALTER's operations, the columns renamed (old, new), and whether
    /// stored values changed without row events (a column dropped and added again resets its
    /// values; partition and tablespace operations change rows). Operations name existing
    /// columns by the names they had before the statement, as MySQL reads them.
    fn altered(&self, table: &TableSchema, ops: &[AlterOp]) -> Result<Altered, String> {
        let mut renamed: Vec<(String, String)> = Vec::new();
        let mut columns = table.columns.clone();
        // Each column's name before the statement (`None`: added by it).
        let mut before: Vec<Option<String>> = columns.iter().map(|c| Some(c.name.clone())).collect();
        let mut dropped: Vec<String> = Vec::new();
        let mut rows_changed = false;
        let names = |key: &[usize]| -> Vec<String> { key.iter().map(|&i| table.columns[i].name.clone()).collect() };
        let mut key = names(&table.primary_key);
        let mut unique_keys: Vec<Vec<String>> = table.unique_keys.iter().map(|k| names(k)).collect();
        // A table without a PRIMARY KEY is identified by a UNIQUE key of NOT NULL columns,
        // which the server may choose anew after the statement: it is read from the server.
        let has_primary = !table.primary_key.is_empty() && !table.key_is_unique;
        let mut rekeyed = false;
        let in_unique = |unique_keys: &[Vec<String>], name: &str| unique_keys.iter().flatten().any(|k| k.eq_ignore_ascii_case(name));
        let mut charset = table.charset.clone();
        let find = |columns: &[Column], before: &[Option<String>], name: &str| -> Result<usize, String> {
            before
                .iter()
                .position(|b| b.as_deref().is_some_and(|b| b.eq_ignore_ascii_case(name)))
                .map_or_else(|| index_of(columns, name), Ok)
        };
        let place = |columns: &[Column], position: &Position| -> Result<usize, String> {
            Ok(match position {
                Position::Last => columns.len(),
                Position::First => 0,
                Position::After(c) => index_of(columns, c)? + 1,
            })
        };
        for op in ops {
            match op {
                AlterOp::AddColumn { def, position, if_not_exists } => {
                    if index_of(&columns, &def.name.value).is_ok() {
                        if *if_not_exists {
                            continue;
                        }
                        return Err(format!("column {} already exists", def.name.value));
                    }
                    rows_changed |= dropped.iter().any(|d| d.eq_ignore_ascii_case(&def.name.value)) || ddl::computed_on_add(def);
                    rekeyed |= !has_primary && ddl::declares_unique(def);
                    let column = self.column(def, charset.as_deref(), false)?;
                    if def.options.iter().any(|o| matches!(o.option, ColumnOption::PrimaryKey(_))) {
                        key = vec![column.name.clone()];
                    }
                    let at = place(&columns, position)?;
                    columns.insert(at, column);
                    before.insert(at, None);
                }
                AlterOp::DropColumn { name, if_exists } => match find(&columns, &before, name) {
                    Ok(i) => {
                        let gone = columns.remove(i);
                        before.remove(i);
                        rekeyed |= !has_primary && in_unique(&unique_keys, &gone.name);
                        key.retain(|k| !k.eq_ignore_ascii_case(&gone.name));
                        // The server drops the column from its keys, and a key left empty.
                        unique_keys.iter_mut().for_each(|u| u.retain(|k| !k.eq_ignore_ascii_case(&gone.name)));
                        unique_keys.retain(|u| !u.is_empty());
                        dropped.push(gone.name);
                    }
                    Err(_) if *if_exists => {}
                    Err(e) => return Err(e),
                },
                AlterOp::ChangeColumn { old, def, position, if_exists } => {
                    let i = match find(&columns, &before, old) {
                        Ok(i) => i,
                        Err(_) if *if_exists => continue,
                        Err(e) => return Err(e),
                    };
                    let current = columns[i].name.clone();
                    let in_key = has_primary && key.iter().any(|k| k.eq_ignore_ascii_case(&current));
                    let column = self.column(def, charset.as_deref(), in_key)?;
                    rekeyed |= !has_primary
                        && (in_unique(&unique_keys, &current) && column.nullable != columns[i].nullable || ddl::declares_unique(def));
                    for k in key.iter_mut().chain(unique_keys.iter_mut().flatten()).filter(|k| k.eq_ignore_ascii_case(&current)) {
                        *k = column.name.clone();
                    }
                    if current != column.name {
                        renamed.push((current, column.name.clone()));
                    }
                    columns.remove(i);
                    let was = before.remove(i);
                    let at = match position {
                        Position::Last => i,
                        other => place(&columns, other)?,
                    };
                    columns.insert(at, column);
                    before.insert(at, was);
                }
                AlterOp::RenameColumn { old, new } => {
                    let i = find(&columns, &before, old)?;
                    let current = columns[i].name.clone();
                    for k in key.iter_mut().chain(unique_keys.iter_mut().flatten()).filter(|k| k.eq_ignore_ascii_case(&current)) {
                        *k = new.clone();
                    }
                    renamed.push((current, new.clone()));
                    columns[i].name = new.clone();
                }
                AlterOp::SetDefault { column, default } => {
                    let i = find(&columns, &before, column)?;
                    columns[i].default = default.clone();
                }
                AlterOp::AddPrimaryKey(names) => {
                    key = Vec::new();
                    for name in names {
                        let i = index_of(&columns, name)?;
                        columns[i].nullable = false;
                        key.push(columns[i].name.clone());
                    }
                }
                AlterOp::DropPrimaryKey => key.clear(),
                AlterOp::UniqueKeys => rekeyed |= !has_primary,
                AlterOp::ConvertCharset(to) => {
                    for c in columns.iter_mut().filter(|c| c.charset.is_some()) {
                        c.storage = c.storage.map(|s| s.converted(c.charset.as_deref(), Some(to)));
                        c.charset = Some(to.clone());
                    }
                    charset = Some(to.clone());
                }
                AlterOp::DefaultCharset(to) => charset = Some(to.clone()),
                AlterOp::RowsChanged => rows_changed = true,
                AlterOp::RenameTo(_) => {}
            }
        }
        let renamed_key = names(&table.primary_key)
            .into_iter()
            .map(|k| renamed.iter().fold(k, |k, (old, new)| if k.eq_ignore_ascii_case(old) { new.clone() } else { k }));
        rekeyed |= !renamed_key.eq(key.iter().cloned());
        let index = |key: &[String]| key.iter().map(|k| index_of(&columns, k)).collect::<Result<Vec<_>, _>>();
        let schema = TableSchema {
            primary_key: index(&key)?,
            unique_keys: unique_keys.iter().map(|k| index(k)).collect::<Result<_, _>>()?,
            key_is_unique: table.key_is_unique,
            ..TableSchema::new(table.id.clone(), columns, Vec::new(), charset)
        };
        Ok(Altered { schema, renamed, rows_changed, rekeyed })
    }

    /// A column as `information_schema` would describe it after the DDL.
    fn column(&self, def: &ColumnDef, table_charset: Option<&str>, in_key: bool) -> Result<Column, String> {
        let (mut data_type, mut column_type, precision, scale, fsp) = ddl::information_schema_type(&def.data_type);
        let option_name = |n: &ObjectName| n.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default();
        let mut charset = def.options.iter().find_map(|o| match &o.option {
            ColumnOption::CharacterSet(n) => Some(ddl::normalize_charset(&option_name(n))),
            _ => None,
        });
        if charset.is_none() {
            charset = def.options.iter().find_map(|o| match &o.option {
                ColumnOption::Collation(n) => Some(ddl::charset_of_collation(&option_name(n))),
                _ => None,
            });
        }
        let upper = def.data_type.to_string().to_ascii_uppercase();
        if upper.starts_with("NCHAR") || upper.starts_with("NVARCHAR") || upper.starts_with("NATIONAL") {
            charset = Some("utf8mb3".into());
        }
        if self.mariadb && data_type == "json" {
            // MariaDB's JSON is LONGTEXT with a JSON_VALID check.
            data_type = "longtext".into();
            column_type = "longtext".into();
            charset = Some("utf8mb4".into());
        }
        let charset = charset.or_else(|| table_charset.map(str::to_string));
        if charset.as_deref() == Some("binary") {
            // Text in the binary character set is a byte string.
            data_type = match data_type.as_str() {
                "char" => "binary".into(),
                "varchar" => "varbinary".into(),
                "tinytext" | "text" | "mediumtext" | "longtext" => data_type.replace("text", "blob"),
                other => other.to_string(),
            };
        }
        // The declared length (in characters for text, bytes for binary strings) comes as
        // the first argument; TEXT(n) and BLOB(n) take the smallest kind that holds it.
        let bytes = |n: u64| {
            if data_type.ends_with("binary") || data_type.ends_with("blob") { n } else { n * max_bytes_per_char(charset.as_deref()) }
        };
        let octet_length = match data_type.as_str() {
            "char" | "binary" => Some(bytes(precision.unwrap_or(1))),
            "varchar" | "varbinary" => precision.map(bytes),
            "text" | "blob" => {
                if let Some(n) = precision.map(bytes) {
                    let kind = ["tiny", "", "medium", "long"][[0xff, 0xffff, 0xff_ffff].iter().take_while(|max| n > **max).count()];
                    data_type = format!("{kind}{data_type}");
                }
                None
            }
            _ => None,
        };
        let not_null = def.options.iter().any(|o| matches!(o.option, ColumnOption::NotNull | ColumnOption::PrimaryKey(_)));
        let fields = InformationSchemaColumn {
            name: def.name.value.clone(),
            data_type,
            column_type,
            nullable: !(not_null || in_key || upper == "SERIAL"),
            numeric_precision: precision,
            numeric_scale: scale,
            datetime_precision: fsp,
            charset,
            octet_length,
            default: None,
        };
        let mut column = Column::from_information_schema(fields, self.options)?;
        column.default = ddl::default_of(def);
        let declares_default = def.options.iter().any(|o| matches!(o.option, ColumnOption::Default(_)));
        if !column.nullable && !declares_default {
            // MySQL's implicit default of a NOT NULL column, which rows that were there when
            // it was added take.
            column.default = match &column.ty {
                ColumnType::Text | ColumnType::Binary | ColumnType::Set(_) => Some(String::new()),
                ColumnType::Enum(labels) => labels.first().cloned(),
                ColumnType::Date | ColumnType::DateTime { .. } | ColumnType::Timestamp { .. } | ColumnType::Geometry => None,
                ColumnType::Time { .. } => Some("00:00:00".into()),
                ColumnType::Json | ColumnType::Uuid | ColumnType::Inet4 | ColumnType::Inet6 | ColumnType::Bit { .. } => None,
                _ => Some("0".into()),
            };
        }
        if matches!(column.ty, ColumnType::Enum(_) | ColumnType::Set(_) | ColumnType::Text) && column.charset.is_none() {
            return Err(format!("column {}: no character set known", column.name));
        }
        Ok(column)
    }
}

impl Catalog for Tracker {
    fn schema(&self, id: &TableId, _: &TableMapEvent<'_>, at: &BinlogPos) -> Option<Arc<TableSchema>> {
        // Once per TABLE_MAP: tables not followed at all are the one lookup.
        let schema = self.tables.get(id)?;
        (self.replicated(id) && !self.loaded_after(id, at)).then(|| schema.clone())
    }
}

/// What an ALTER TABLE did (see [`Tracker::altered`]).
struct Altered {
    schema: TableSchema,
    renamed: Vec<(String, String)>,
    rows_changed: bool,
    /// The row key may have changed: the table's history under one key is no base for
    /// another.
    rekeyed: bool,
}

fn index_of(columns: &[Column], name: &str) -> Result<usize, String> {
    columns.iter().position(|c| c.name.eq_ignore_ascii_case(name)).ok_or_else(|| format!("no column {name}"))
}

/// The table an online schema change tool's helper table belongs to: gh-ost's `_t_gho`,
/// `_t_ghc` and `_t_del`, pt-online-schema-change's `_t_new` and `_t_old` (`__t_new` when
/// the first name is taken).
pub fn shadow_base(id: &TableId) -> Option<TableId> {
    let name = id.table.strip_prefix('_')?;
    let name = name.strip_prefix('_').unwrap_or(name);
    ["_gho", "_ghc", "_del", "_new", "_old"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .filter(|base| !base.is_empty())
        .map(|base| TableId::new(&id.database, base))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> Tracker {
        let filter = TableFilter::new(&["shop.*".into()], &[]).unwrap();
        let mut t = Tracker::new(
            filter,
            SchemaOptions::default(),
            true,
            Charsets { databases: HashMap::from([("shop".into(), "utf8mb4".into())]), server: "latin1".into() },
        );
        create(&mut t, "CREATE TABLE stores (id INT PRIMARY KEY, name VARCHAR(20))");
        t
    }

    fn run(t: &mut Tracker, q: &str, offset: u64) -> Vec<Effect> {
        t.apply(ddl::parse(q, "shop"), q, &BinlogPos::new("b.000001", offset))
    }

    fn names(s: &TableSchema) -> Vec<&str> {
        s.columns.iter().map(|c| c.name.as_str()).collect()
    }

    fn create(t: &mut Tracker, q: &str) -> TableSchema {
        let Ddl::Create { table, body, .. } = ddl::parse(q, "shop").remove(0) else { panic!("{q}") };
        let schema = t.created(&table, body).unwrap();
        t.insert(Arc::new(schema.clone()), None);
        schema
    }

    #[test]
    fn a_table_without_a_primary_key_is_identified_by_its_first_unique_key_of_not_null_columns() {
        let mut t = tracker();
        let s = create(
            &mut t,
            "CREATE TABLE codes (n INT, code VARCHAR(8) NOT NULL, note TEXT NOT NULL, region INT NOT NULL, \
             UNIQUE (n), UNIQUE (note), UNIQUE (region, code), UNIQUE (code))",
        );
        // (n) has a nullable column; a UNIQUE TEXT is a hash in MariaDB.
        assert_eq!((s.primary_key.clone(), s.key_is_unique, s.unique_keys.clone()), (vec![3, 1], true, vec![vec![0], vec![3, 1], vec![1]]));
        // A renamed key column keeps the key; a column that changes nothing else neither.
        let effects = run(&mut t, "ALTER TABLE codes RENAME COLUMN code TO label, ADD COLUMN extra INT FIRST", 10);
        let [Effect::Schema { schema: s, .. }] = &effects[..] else { panic!("{effects:?}") };
        assert_eq!((s.key_names(), s.key_is_unique), (vec!["region", "label"], true));
        // Whatever may change which key the server identifies rows by reloads the table.
        for q in [
            "ALTER TABLE codes MODIFY n INT NOT NULL",
            "ALTER TABLE codes MODIFY region INT NULL",
            "ALTER TABLE codes DROP COLUMN region",
            "ALTER TABLE codes DROP INDEX region",
            "ALTER TABLE codes ADD UNIQUE (extra)",
            "ALTER TABLE codes ADD COLUMN k INT NOT NULL UNIQUE",
            "ALTER TABLE codes ADD PRIMARY KEY (region)",
            "CREATE UNIQUE INDEX e ON codes (extra)",
            "DROP INDEX e ON codes",
        ] {
            let mut t = tracker();
            t.insert(s.clone(), None);
            let effects = run(&mut t, q, 20);
            assert!(matches!(&effects[..], [Effect::Reload { why, .. }] if why.contains("key")), "{q}: {effects:?}");
        }
        // A table with a primary key keeps it whatever its UNIQUE keys do.
        for q in ["ALTER TABLE stores ADD UNIQUE (name)", "DROP INDEX name ON stores"] {
            assert!(run(&mut t, q, 30).is_empty(), "{q}");
        }
        // Without a UNIQUE key of NOT NULL columns, a table has no key.
        let s = create(&mut t, "CREATE TABLE notes (n INT, body VARCHAR(10), UNIQUE KEY (n), UNIQUE (body(3)))");
        assert_eq!((s.primary_key.clone(), s.key_is_unique), (vec![], false));
    }

    #[test]
    fn alter_table_changes_columns_in_place() {
        let mut t = tracker();
        let effects = run(&mut t, "ALTER TABLE stores ADD COLUMN Country VARCHAR(10) NOT NULL DEFAULT 'US' AFTER id, ADD z INT FIRST", 10);
        let [Effect::Schema { schema: s, .. }] = &effects[..] else { panic!("{effects:?}") };
        assert_eq!(names(s), ["z", "id", "Country", "name"]);
        assert_eq!(s.primary_key, [1]);
        assert_eq!(
            (s.columns[2].default.as_deref(), s.columns[2].nullable, s.columns[2].charset.as_deref()),
            (Some("US"), false, Some("utf8mb4"))
        );
        let effects = run(&mut t, "ALTER TABLE stores CHANGE id store_id BIGINT, DROP COLUMN z, RENAME COLUMN country TO nation", 20);
        let [Effect::Schema { schema: s, .. }] = &effects[..] else { panic!("{effects:?}") };
        assert_eq!(names(s), ["store_id", "nation", "name"]);
        assert_eq!((s.primary_key.clone(), s.columns[0].ty.clone(), s.columns[0].nullable), (vec![0], ColumnType::BigInt, false));
        let effects =
            run(&mut t, "ALTER TABLE stores DROP PRIMARY KEY, ADD PRIMARY KEY (name, nation), CONVERT TO CHARACTER SET latin1", 30);
        // Rows identified by another key: the table's history is no base for the new one.
        assert!(matches!(&effects[..], [Effect::Reload { why, .. }] if why.contains("key")), "{effects:?}");
        let s = &t.tables[&TableId::new("shop", "stores")];
        assert_eq!(
            (s.primary_key.clone(), s.columns[2].charset.as_deref(), s.charset.as_deref()),
            (vec![2, 1], Some("latin1"), Some("latin1"))
        );
        assert!(run(&mut t, "ALTER TABLE stores ENGINE=InnoDB", 40).is_empty(), "no change, no effect");
        // Rows there before a NOT NULL column without a default take MySQL's implicit one.
        let effects = run(
            &mut t,
            "ALTER TABLE stores ADD COLUMN n INT NOT NULL, ADD COLUMN s VARCHAR(3) NOT NULL, ADD COLUMN d INT DEFAULT NULL",
            40,
        );
        let [Effect::Schema { schema: s, .. }] = &effects[..] else { panic!("{effects:?}") };
        let defaults: Vec<Option<&str>> = s.columns[3..].iter().map(|c| c.default.as_deref()).collect();
        assert_eq!(defaults, [Some("0"), Some(""), None]);
        run(&mut t, "ALTER TABLE stores DROP COLUMN n, DROP COLUMN s, DROP COLUMN d", 40);
        // Operations name columns as they were before the statement: a swap.
        let effects = run(&mut t, "ALTER TABLE stores RENAME COLUMN name TO nation, RENAME COLUMN nation TO name", 41);
        let [Effect::Schema { schema: s, renamed }] = &effects[..] else { panic!("{effects:?}") };
        assert_eq!((names(s), renamed.len()), (vec!["store_id", "name", "nation"], 2));
        // Values changed without row events: loaded anew.
        for q in [
            "ALTER TABLE stores DROP COLUMN nation, ADD COLUMN nation INT",
            "ALTER TABLE stores TRUNCATE PARTITION p0",
            "ALTER TABLE stores ADD COLUMN created TIMESTAMP DEFAULT CURRENT_TIMESTAMP",
            "ALTER TABLE stores ADD COLUMN twice INT AS (store_id * 2) STORED",
        ] {
            assert!(matches!(&run(&mut t, q, 42)[..], [Effect::Reload { .. }]), "{q}");
        }
        assert!(matches!(&run(&mut t, "ALTER TABLE stores DROP COLUMN nope", 50)[..], [Effect::Unknown { .. }]));
    }

    #[test]
    fn tables_that_appear_are_loaded_and_tables_that_go_stop() {
        let mut t = tracker();
        let stores = TableId::new("shop", "stores");
        assert_eq!(
            run(&mut t, "CREATE TABLE shop.items (id INT)", 10),
            vec![Effect::Reload { table: TableId::new("shop", "items"), why: "it was created".into() }]
        );
        assert!(run(&mut t, "CREATE TABLE other.x (id INT)", 11).is_empty(), "not selected");
        assert!(run(&mut t, "CREATE TABLE IF NOT EXISTS stores (id INT)", 11).is_empty(), "exists: nothing happens");
        assert_eq!(run(&mut t, "TRUNCATE stores", 12), vec![Effect::Reload { table: stores.clone(), why: "it was truncated".into() }]);
        assert_eq!(
            run(&mut t, "RENAME TABLE stores TO shops", 13),
            vec![
                Effect::Gone(stores.clone()),
                Effect::Reload { table: TableId::new("shop", "shops"), why: "shop.stores was renamed to it".into() }
            ]
        );
        assert!(!t.tables.contains_key(&stores));
        let mut t = tracker();
        assert_eq!(run(&mut t, "DROP TABLE IF EXISTS stores, nothing", 14), vec![Effect::Gone(stores.clone())]);
        // Statements up to a table's snapshot are in it already.
        let mut t = tracker();
        t.loaded_at.insert(stores.clone(), BinlogPos::new("b.000001", 100));
        assert!(run(&mut t, "DROP TABLE stores", 99).is_empty());
    }

    #[test]
    fn online_schema_change_swaps_keep_the_table() {
        for (shadow, old) in [("_stores_gho", "_stores_del"), ("_stores_new", "_stores_old")] {
            let mut t = tracker();
            assert!(run(&mut t, &format!("create /* gh-ost */ table `shop`.`{shadow}` like `shop`.`stores`"), 10).is_empty());
            assert!(run(&mut t, &format!("alter table `shop`.`{shadow}` add column region char(2) default 'EU'"), 11).is_empty());
            let effects = run(&mut t, &format!("rename table `shop`.`stores` to `shop`.`{old}`, `shop`.`{shadow}` to `shop`.`stores`"), 12);
            let [Effect::Schema { schema: s, .. }] = &effects[..] else { panic!("{effects:?}") };
            assert_eq!((s.id.table.as_str(), names(s)), ("stores", vec!["id", "name", "region"]));
            assert!(run(&mut t, &format!("DROP TABLE IF EXISTS `shop`.`{old}`"), 13).is_empty());
        }
    }

    #[test]
    fn unparsed_statements_name_the_tables_they_may_touch() {
        let mut t = tracker();
        let effects = run(&mut t, "ALTER TABLE stores ADD SYSTEM VERSIONING", 10);
        assert!(matches!(&effects[..], [Effect::Unknown { table, .. }] if table.table == "stores"), "{effects:?}");
    }
}
