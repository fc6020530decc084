//! Table identity, column types and the mapping of MySQL types to Arrow/Parquet types in the
//! DMS contract. Schemas are read from `information_schema`, the authority for names, key
//! columns, signedness and ENUM/SET labels (the binlog itself often carries none of these).

use arrow::datatypes::{DataType, TimeUnit};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct TableId {
    pub database: String,
    pub table: String,
}

impl TableId {
    pub fn new(database: impl Into<String>, table: impl Into<String>) -> Self {
        Self { database: database.into(), table: table.into() }
    }

    /// `db`.`table`, quoted for SQL.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(&self.table))
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The MySQL column types binlake distinguishes. Widths matter for unsigned fix-ups and
/// for the Parquet integer annotations.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ColumnType {
    TinyInt,
    /// TINYINT(1) written as a boolean (`--tinyint1-as-boolean`).
    Boolean,
    SmallInt,
    MediumInt,
    Int,
    BigInt,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Float,
    Double,
    Bit {
        bits: u16,
    },
    Date,
    /// TIME with its fractional-second digits (0..6).
    Time {
        fsp: u8,
    },
    /// DATETIME and TIMESTAMP with their fractional-second digits (0..6).
    DateTime {
        fsp: u8,
    },
    Timestamp {
        fsp: u8,
    },
    Year,
    Text,
    Binary,
    /// Spatial types, written as standard WKB (MySQL stores a 4-byte SRID in front of it).
    Geometry,
    /// MariaDB's UUID, INET4 and INET6: written as the text MariaDB prints for them.
    Uuid,
    Inet4,
    Inet6,
    Enum(Vec<String>),
    Set(Vec<String>),
    Json,
}

/// The fields of one `information_schema.COLUMNS` row that make a column.
#[derive(Debug, Clone, Default)]
pub struct InformationSchemaColumn {
    pub name: String,
    pub data_type: String,
    pub column_type: String,
    pub nullable: bool,
    pub numeric_precision: Option<u64>,
    pub numeric_scale: Option<u64>,
    pub datetime_precision: Option<u64>,
    pub charset: Option<String>,
    /// `CHARACTER_OCTET_LENGTH`: the bytes a CHAR/VARCHAR/BINARY/VARBINARY value takes at most.
    pub octet_length: Option<u64>,
    /// `COLUMN_DEFAULT`: MariaDB quotes literals (`'US'`) and prints `NULL`; MySQL prints
    /// literals bare and NULL as SQL NULL.
    pub default: Option<String>,
}

/// Choices about how source types are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchemaOptions {
    /// TINYINT(1) (MySQL's BOOLEAN) as a boolean instead of an 8-bit integer.
    pub tinyint1_as_boolean: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub unsigned: bool,
    pub nullable: bool,
    /// Character set of text columns (`latin1`, `utf8mb4`, ...), `None` for the rest.
    pub charset: Option<String>,
    /// The column's constant default as text (`US`, `0.00`), `None` for NULL or an
    /// expression (`current_timestamp()`): the value rows had when the column was added.
    pub default: Option<String>,
    /// MEDIUM/LONG TEXT and BLOB and JSON: a value may run to megabytes, so the Parquet
    /// writer keeps no dictionary or min/max statistics of the column, which would copy it
    /// whole.
    #[serde(default)]
    pub large: bool,
    /// How a CHAR/VARCHAR/TEXT/BINARY/BLOB column is stored, as the binlog's TABLE_MAP
    /// describes it: a change of length or kind the binlog never carried shows there. `None`
    /// for other types (and in schemas recorded before binlake kept it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
}

/// The physical kind and size of a string column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Storage {
    /// CHAR/BINARY of this many bytes.
    Fixed(u32),
    /// VARCHAR/VARBINARY of at most this many bytes.
    Variable(u32),
    /// TEXT/BLOB whose length takes this many bytes: 1 TINY, 2 plain, 3 MEDIUM, 4 LONG.
    Blob(u8),
}

impl Storage {
    /// From `information_schema`'s DATA_TYPE and CHARACTER_OCTET_LENGTH.
    pub fn of(data_type: &str, octet_length: Option<u64>) -> Option<Self> {
        let bytes = || octet_length.and_then(|n| u32::try_from(n).ok());
        Some(match data_type {
            "char" | "binary" => Storage::Fixed(bytes()?),
            "varchar" | "varbinary" => Storage::Variable(bytes()?),
            "tinytext" | "tinyblob" => Storage::Blob(1),
            "text" | "blob" => Storage::Blob(2),
            "mediumtext" | "mediumblob" => Storage::Blob(3),
            "longtext" | "longblob" => Storage::Blob(4),
            _ => return None,
        })
    }
}

impl Storage {
    /// The storage after `CONVERT TO CHARACTER SET`: lengths in characters stay, so bytes
    /// scale; a TEXT too small for its characters in the new set becomes the next larger
    /// TEXT, as the server does.
    pub fn converted(self, from: Option<&str>, to: Option<&str>) -> Self {
        let (from, to) = (max_bytes_per_char(from), max_bytes_per_char(to));
        let scale = |n: u32| (n as u64 / from * to).min(u32::MAX as u64) as u32;
        match self {
            Storage::Fixed(n) => Storage::Fixed(scale(n)),
            Storage::Variable(n) => Storage::Variable(scale(n)),
            Storage::Blob(k) => {
                let needed = ((1u64 << (8 * k as u32)) - 1) / from * to;
                Storage::Blob((1..=4u8).find(|k| needed < 1u64 << (8 * *k as u32)).unwrap_or(4).max(k))
            }
        }
    }
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Fixed(n) => write!(f, "CHAR/BINARY of {n} bytes"),
            Storage::Variable(n) => write!(f, "VARCHAR/VARBINARY of up to {n} bytes"),
            Storage::Blob(n) => write!(f, "{}TEXT/BLOB", ["TINY", "", "MEDIUM", "LONG"][(*n as usize).clamp(1, 4) - 1]),
        }
    }
}

/// Bytes per character at most, for the character sets binlake decodes.
pub fn max_bytes_per_char(charset: Option<&str>) -> u64 {
    match charset {
        Some("utf8mb4") => 4,
        Some("utf8mb3" | "utf8") => 3,
        _ => 1,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableSchema {
    pub id: TableId,
    pub columns: Vec<Column>,
    /// Indexes into `columns` of the key that identifies a row, in key order: the primary key,
    /// or for a table without one its first UNIQUE key whose columns are all NOT NULL (the
    /// index InnoDB clusters such a table by); empty without either.
    pub primary_key: Vec<usize>,
    /// The table's default character set: the one of text columns added without their own.
    #[serde(default)]
    pub charset: Option<String>,
    /// Of a table without a PRIMARY KEY, its UNIQUE keys of whole columns (indexes into
    /// `columns`, in key order) in the server's order: the ones that can identify a row once
    /// their columns are NOT NULL (a prefix or a hash of a TEXT/BLOB is unique without being
    /// able to stand for the row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique_keys: Vec<Vec<usize>>,
    /// Whether `primary_key` is one of `unique_keys`: the table has no PRIMARY KEY.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub key_is_unique: bool,
}

impl TableSchema {
    /// A table with no UNIQUE keys besides its primary key (if any).
    pub fn new(id: TableId, columns: Vec<Column>, primary_key: Vec<usize>, charset: Option<String>) -> Self {
        TableSchema { id, columns, primary_key, charset, unique_keys: Vec::new(), key_is_unique: false }
    }

    /// Chooses the row key of a table without a PRIMARY KEY as InnoDB chooses the index it
    /// clusters the table by: the first UNIQUE key whose columns are all NOT NULL.
    pub fn choose_row_key(&mut self) {
        if !self.primary_key.is_empty() && !self.key_is_unique {
            return;
        }
        let columns = &self.columns;
        match self.unique_keys.iter().find(|k| !k.is_empty() && k.iter().all(|&i| !columns[i].nullable)) {
            Some(key) => (self.primary_key, self.key_is_unique) = (key.clone(), true),
            None => (self.primary_key, self.key_is_unique) = (Vec::new(), false),
        }
    }

    /// The names of the row key's columns.
    pub fn key_names(&self) -> Vec<&str> {
        self.primary_key.iter().map(|&i| self.columns[i].name.as_str()).collect()
    }
}

impl Column {
    /// Whether a UNIQUE key on the whole column is a hash of its values (MariaDB's for TEXT
    /// and BLOB), which cannot identify a row.
    pub fn unique_is_hashed(&self) -> bool {
        matches!(self.storage, Some(Storage::Blob(_)))
    }

    /// A nullable, signed column with no charset, default or storage: binlake's own columns
    /// (the history's validity times) and the tests' tables.
    pub fn nullable(name: &str, ty: ColumnType) -> Self {
        Column { name: name.into(), ty, unsigned: false, nullable: true, charset: None, default: None, large: false, storage: None }
    }

    pub fn arrow_type(&self) -> DataType {
        use ColumnType::*;
        match (&self.ty, self.unsigned) {
            (TinyInt, false) => DataType::Int8,
            (TinyInt, true) => DataType::UInt8,
            (Boolean, _) => DataType::Boolean,
            (SmallInt, false) => DataType::Int16,
            (SmallInt, true) => DataType::UInt16,
            (MediumInt | Int, false) => DataType::Int32,
            (MediumInt | Int, true) => DataType::UInt32,
            (BigInt, false) => DataType::Int64,
            (BigInt, true) => DataType::UInt64,
            // Parquet decimals hold at most 38 digits in Arrow's Decimal128; wider MySQL
            // decimals are written as their exact text rather than rounded.
            (Decimal { precision, scale }, _) if *precision <= 38 => DataType::Decimal128(*precision, *scale as i8),
            (Decimal { .. }, _) => DataType::Utf8,
            (Float, _) => DataType::Float32,
            (Double, _) => DataType::Float64,
            (Bit { bits: 1 }, _) => DataType::Boolean,
            (Bit { .. }, _) => DataType::Binary,
            (Date, _) => DataType::Date32,
            (Time { .. }, _) => DataType::Utf8,
            (DateTime { .. } | Timestamp { .. }, _) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            (Year, _) => DataType::Int16,
            (Text | Enum(_) | Set(_) | Json | Uuid | Inet4 | Inet6, _) => DataType::Utf8,
            (Binary | Geometry, _) => DataType::Binary,
        }
    }

    /// Builds a column from its `information_schema.COLUMNS` row.
    pub fn from_information_schema(c: InformationSchemaColumn, options: SchemaOptions) -> Result<Self, String> {
        let InformationSchemaColumn {
            name,
            data_type,
            column_type,
            nullable,
            numeric_precision,
            numeric_scale,
            datetime_precision,
            charset,
            octet_length,
            default,
        } = c;
        let column_type = column_type.as_str();
        let data_type = data_type.to_ascii_lowercase();
        let large = matches!(data_type.as_str(), "mediumtext" | "longtext" | "mediumblob" | "longblob" | "json");
        let column_type_lc = column_type.to_ascii_lowercase();
        let unsigned = column_type_lc.contains("unsigned");
        let ty = match data_type.as_str() {
            // BOOLEAN is TINYINT(1) in MySQL: an integer unless asked otherwise.
            "tinyint" if options.tinyint1_as_boolean && column_type_lc == "tinyint(1)" => ColumnType::Boolean,
            "tinyint" | "bool" | "boolean" => ColumnType::TinyInt,
            "smallint" => ColumnType::SmallInt,
            "mediumint" => ColumnType::MediumInt,
            "int" | "integer" => ColumnType::Int,
            "bigint" => ColumnType::BigInt,
            "decimal" | "numeric" => {
                ColumnType::Decimal { precision: numeric_precision.unwrap_or(10) as u8, scale: numeric_scale.unwrap_or(0) as u8 }
            }
            "float" => ColumnType::Float,
            "double" | "real" => ColumnType::Double,
            "bit" => ColumnType::Bit { bits: numeric_precision.unwrap_or(1) as u16 },
            "date" => ColumnType::Date,
            "time" => ColumnType::Time { fsp: datetime_precision.unwrap_or(0) as u8 },
            "datetime" => ColumnType::DateTime { fsp: datetime_precision.unwrap_or(0) as u8 },
            "timestamp" => ColumnType::Timestamp { fsp: datetime_precision.unwrap_or(0) as u8 },
            "year" => ColumnType::Year,
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => {
                // MariaDB reports JSON columns as longtext with a json_valid check; they are
                // text either way.
                ColumnType::Text
            }
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => ColumnType::Binary,
            "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon" | "geometrycollection"
            | "geomcollection" => ColumnType::Geometry,
            "enum" => ColumnType::Enum(parse_labels(column_type)?),
            "set" => ColumnType::Set(parse_labels(column_type)?),
            "json" => ColumnType::Json,
            "uuid" => ColumnType::Uuid,
            "inet4" => ColumnType::Inet4,
            "inet6" => ColumnType::Inet6,
            other => return Err(format!("column {name}: unsupported type {other} ({column_type})")),
        };
        let charset = match ty {
            ColumnType::Text | ColumnType::Enum(_) | ColumnType::Set(_) => charset,
            _ => None,
        };
        // The binlog carries text in the column's own character set; binlake decodes these.
        if let Some(cs) = charset.as_deref()
            && !matches!(cs, "utf8mb4" | "utf8mb3" | "utf8" | "ascii" | "latin1" | "binary")
        {
            return Err(format!(
                "column {name}: character set {cs} is not supported yet (utf8mb4, utf8mb3, ascii and latin1 are); exclude the table or convert the column"
            ));
        }
        let storage = match ty {
            ColumnType::Text | ColumnType::Binary => Storage::of(&data_type, octet_length),
            _ => None,
        };
        Ok(Self { name, ty, unsigned, nullable, charset, default: default.as_deref().and_then(literal_default), large, storage })
    }
}

/// A `COLUMN_DEFAULT` as the value's text: `'it''s'` (MariaDB) or `it's` (MySQL) -> `it's`;
/// `None` for NULL and for expressions such as `current_timestamp()` or `(uuid())`.
fn literal_default(text: &str) -> Option<String> {
    if let Some(quoted) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Some(quoted.replace("''", "'").replace("\\\\", "\\"));
    }
    let expression = text.contains('(') || text.eq_ignore_ascii_case("current_timestamp");
    (!(text == "NULL" || expression)).then(|| text.to_string())
}

/// `enum('a','b''c')` -> `["a", "b'c"]`.
fn parse_labels(column_type: &str) -> Result<Vec<String>, String> {
    let open = column_type.find('(').ok_or_else(|| format!("bad ENUM/SET type {column_type}"))?;
    let body = &column_type[open + 1..column_type.rfind(')').unwrap_or(column_type.len())];
    let mut labels = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                Some('\'') | None => break,
                Some(ch) => label.push(ch),
            }
        }
        labels.push(label);
    }
    Ok(labels)
}

/// Table selection: include and exclude patterns of the form `db.table`, where `*` matches
/// any run of characters and `%` is accepted as DMS's spelling of the same. A table is
/// selected when it matches an include pattern (or none are given) and no exclude pattern.
/// A DMS table-mapping file adds its selection rules with DMS's own wildcards.
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    include: Vec<(Pattern, Pattern)>,
    exclude: Vec<(Pattern, Pattern)>,
}

impl TableFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, String> {
        let split = |p: &String| -> Result<(Pattern, Pattern), String> {
            let (db, table) =
                p.split_once('.').ok_or_else(|| format!("table pattern {p:?} must be db.table (for example shop.* or *.orders)"))?;
            Ok((Pattern::glob(db), Pattern::glob(table)))
        };
        Ok(Self {
            include: include.iter().map(split).collect::<Result<_, _>>()?,
            exclude: exclude.iter().map(split).collect::<Result<_, _>>()?,
        })
    }

    /// Adds the selection rules of a DMS table-mapping JSON. Rules binlake cannot honour
    /// (transformations, source filters, views) are errors naming the rule: applying them
    /// halfway would write something other than what the DMS task wrote.
    pub fn with_dms_mappings(mut self, json: &str) -> Result<Self, String> {
        let doc: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        let rules = doc.get("rules").and_then(|r| r.as_array()).ok_or("expected {\"rules\": [...]}")?;
        for rule in rules {
            let name = rule.get("rule-name").or_else(|| rule.get("rule-id")).map(|v| v.to_string()).unwrap_or_default();
            let field = |k: &str| rule.get(k).and_then(|v| v.as_str()).unwrap_or("");
            if field("rule-type") != "selection" {
                return Err(format!("rule {name}: rule-type {:?} is not supported (only selection rules are)", field("rule-type")));
            }
            if rule.get("filters").and_then(|f| f.as_array()).is_some_and(|f| !f.is_empty()) {
                return Err(format!("rule {name}: source filters are not supported; replicate whole tables"));
            }
            if !matches!(
                rule.get("object-locator").and_then(|o| o.get("table-type")).and_then(|t| t.as_str()),
                None | Some("table" | "all")
            ) {
                return Err(format!("rule {name}: only tables are replicated, not views"));
            }
            let locator = rule.get("object-locator").ok_or_else(|| format!("rule {name}: no object-locator"))?;
            let part = |k: &str| locator.get(k).and_then(|v| v.as_str()).ok_or_else(|| format!("rule {name}: object-locator has no {k}"));
            let (db, table) = (part("schema-name")?, part("table-name")?);
            let pair = match field("rule-action") {
                "explicit" => (Pattern::literal(db), Pattern::literal(table)),
                _ => (Pattern::dms(db)?, Pattern::dms(table)?),
            };
            match field("rule-action") {
                "include" | "explicit" => self.include.push(pair),
                "exclude" => self.exclude.push(pair),
                other => return Err(format!("rule {name}: rule-action {other:?} is not include, exclude or explicit")),
            }
        }
        Ok(self)
    }

    pub fn matches(&self, db: &str, table: &str) -> bool {
        if is_system_database(db) {
            return false;
        }
        let hit = |(d, t): &(Pattern, Pattern)| d.matches(db) && t.matches(table);
        (self.include.is_empty() || self.include.iter().any(hit)) && !self.exclude.iter().any(hit)
    }
}

pub fn is_system_database(db: &str) -> bool {
    matches!(db, "mysql" | "information_schema" | "performance_schema" | "sys")
}

/// A name pattern; case-sensitive like table names on Linux servers.
#[derive(Debug, Clone, PartialEq)]
struct Pattern(Vec<Token>);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Any,
    One,
    Class(Vec<(char, char)>),
    Literal(char),
}

impl Pattern {
    /// binlake's patterns: `*` or `%` for any run of characters.
    fn glob(text: &str) -> Self {
        Self(text.chars().map(|c| if c == '*' || c == '%' { Token::Any } else { Token::Literal(c) }).collect())
    }

    fn literal(text: &str) -> Self {
        Self(text.chars().map(Token::Literal).collect())
    }

    /// DMS's wildcards: `%` any run, `_` one character, `[ab]`, `[a-d]` and `[_]` classes.
    fn dms(text: &str) -> Result<Self, String> {
        let mut tokens = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '%' => Token::Any,
                '_' => Token::One,
                '[' => {
                    let body: String = chars.by_ref().take_while(|&c| c != ']').collect();
                    let b: Vec<char> = body.chars().collect();
                    let mut ranges = Vec::new();
                    let mut i = 0;
                    while i < b.len() {
                        if i + 2 < b.len() && b[i + 1] == '-' {
                            ranges.push((b[i], b[i + 2]));
                            i += 3;
                        } else {
                            ranges.push((b[i], b[i]));
                            i += 1;
                        }
                    }
                    if ranges.is_empty() {
                        return Err(format!("pattern {text:?}: empty [] class"));
                    }
                    Token::Class(ranges)
                }
                c => Token::Literal(c),
            });
        }
        Ok(Self(tokens))
    }

    fn matches(&self, text: &str) -> bool {
        fn go(p: &[Token], t: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some((Token::Any, rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
                Some((token, rest)) => {
                    let Some((&c, tail)) = t.split_first() else { return false };
                    let ok = match token {
                        Token::One => true,
                        Token::Literal(l) => *l == c,
                        Token::Class(ranges) => ranges.iter().any(|&(a, b)| a <= c && c <= b),
                        Token::Any => unreachable!(),
                    };
                    ok && go(rest, tail)
                }
            }
        }
        go(&self.0, &text.chars().collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_defaults_are_literals_or_nothing() {
        assert_eq!(literal_default("'US'"), Some("US".into()));
        assert_eq!(literal_default("'it''s'"), Some("it's".into()));
        assert_eq!(literal_default("0.00"), Some("0.00".into()));
        assert_eq!(literal_default("US"), Some("US".into()), "MySQL prints literals bare");
        assert_eq!(literal_default("NULL"), None);
        assert_eq!(literal_default("current_timestamp()"), None);
        assert_eq!(literal_default("CURRENT_TIMESTAMP"), None);
        assert_eq!(literal_default("(uuid())"), None);
    }

    #[test]
    fn filter_patterns() {
        let f = TableFilter::new(&["shop.*".into(), "crm.customers".into(), "%.audit_%".into()], &["*.tmp_*".into()]).unwrap();
        assert!(f.matches("shop", "orders"));
        assert!(!f.matches("shop", "tmp_orders"));
        assert!(f.matches("crm", "customers"));
        assert!(!f.matches("crm", "leads"));
        assert!(f.matches("x", "audit_log"));
        assert!(!f.matches("mysql", "user"));
        let all = TableFilter::new(&[], &[]).unwrap();
        assert!(all.matches("any", "thing"));
        assert!(TableFilter::new(&["nodot".into()], &[]).is_err());
    }

    #[test]
    fn glob_edge_cases() {
        let glob = |p: &str, t: &str| Pattern::glob(p).matches(t);
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b", "aXXc"));
        assert!(glob("tmp_*", "tmp_"));
        assert!(!glob("tmp_*", "tmpX"));
    }

    #[test]
    fn dms_table_mappings() {
        let mapping = r#"{"rules": [
            {"rule-type": "selection", "rule-id": "1", "rule-name": "1",
             "object-locator": {"schema-name": "shop", "table-name": "%"}, "rule-action": "include", "filters": []},
            {"rule-type": "selection", "rule-id": "2", "rule-name": "2",
             "object-locator": {"schema-name": "shop", "table-name": "tmp[_]%"}, "rule-action": "exclude"},
            {"rule-type": "selection", "rule-id": "3", "rule-name": "3",
             "object-locator": {"schema-name": "crm", "table-name": "lead_"}, "rule-action": "include"},
            {"rule-type": "selection", "rule-id": "4", "rule-name": "4",
             "object-locator": {"schema-name": "hr", "table-name": "pay_%"}, "rule-action": "explicit"}]}"#;
        let f = TableFilter::default().with_dms_mappings(mapping).unwrap();
        assert!(f.matches("shop", "orders"));
        assert!(f.matches("shop", "tmpx_orders"), "[_] is a literal underscore");
        assert!(!f.matches("shop", "tmp_orders"));
        assert!(f.matches("crm", "leads") && f.matches("crm", "lead1") && !f.matches("crm", "lead"));
        assert!(f.matches("hr", "pay_%") && !f.matches("hr", "pay_day"), "explicit names have no wildcards");
        assert!(!f.matches("other", "x"));
        let bad = |rule: &str| TableFilter::default().with_dms_mappings(&format!(r#"{{"rules": [{rule}]}}"#)).unwrap_err();
        assert!(
            bad(r#"{"rule-type": "transformation", "rule-name": "lower", "rule-action": "convert-lowercase"}"#).contains("transformation")
        );
        assert!(
            bad(r#"{"rule-type": "selection", "rule-name": "f", "rule-action": "include",
            "object-locator": {"schema-name": "a", "table-name": "b"}, "filters": [{"filter-type": "source"}]}"#)
            .contains("filters")
        );
        assert!(Pattern::dms("[a-c]x").unwrap().matches("bx"));
    }

    #[test]
    fn large_columns_are_the_ones_of_megabytes() {
        let large = |data_type: &str| {
            let c = InformationSchemaColumn {
                name: "c".into(),
                data_type: data_type.into(),
                column_type: data_type.into(),
                ..Default::default()
            };
            Column::from_information_schema(c, SchemaOptions::default()).unwrap().large
        };
        for ty in ["mediumtext", "longtext", "MEDIUMBLOB", "longblob", "json"] {
            assert!(large(ty), "{ty}");
        }
        for ty in ["varchar", "text", "blob", "varbinary", "int"] {
            assert!(!large(ty), "{ty}");
        }
    }

    #[test]
    fn enum_labels_with_quotes_and_commas() {
        assert_eq!(parse_labels("enum('a','b''c','d,e')").unwrap(), vec!["a", "b'c", "d,e"]);
        assert_eq!(parse_labels("set('x')").unwrap(), vec!["x"]);
    }
}
