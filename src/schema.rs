//! Table identity, column types and the mapping of MySQL types to Arrow/Parquet types in the
//! DMS contract. Schemas are read from `information_schema`, the authority for names, key
//! columns, signedness and ENUM/SET labels (the binlog itself often carries none of these).

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    TinyInt,
    SmallInt,
    MediumInt,
    Int,
    BigInt,
    Decimal { precision: u8, scale: u8 },
    Float,
    Double,
    Bit { bits: u16 },
    Date,
    /// TIME with its fractional-second digits (0..6).
    Time { fsp: u8 },
    DateTime,
    Timestamp,
    Year,
    Text,
    Binary,
    Enum(Vec<String>),
    Set(Vec<String>),
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub unsigned: bool,
    pub nullable: bool,
    /// Character set of text columns (`latin1`, `utf8mb4`, ...), `None` for the rest.
    pub charset: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub id: TableId,
    pub columns: Vec<Column>,
    /// Indexes into `columns` of the primary key, in key order; empty without a primary key.
    pub primary_key: Vec<usize>,
}

impl TableSchema {
    /// Arrow schema of the files binlake writes for this table: `[Op] <columns in table order>`.
    pub fn arrow_schema(&self, with_op: bool) -> Arc<Schema> {
        let mut fields = Vec::with_capacity(self.columns.len() + 1);
        if with_op {
            fields.push(Field::new("Op", DataType::Utf8, false));
        }
        // DMS marks every source column optional, whatever the source's NOT NULL says.
        fields.extend(self.columns.iter().map(|c| Field::new(&c.name, c.arrow_type(), true)));
        Arc::new(Schema::new(fields))
    }
}

impl Column {
    pub fn arrow_type(&self) -> DataType {
        use ColumnType::*;
        match (&self.ty, self.unsigned) {
            (TinyInt, false) => DataType::Int8,
            (TinyInt, true) => DataType::UInt8,
            (SmallInt, false) => DataType::Int16,
            (SmallInt, true) => DataType::UInt16,
            (MediumInt | Int, false) => DataType::Int32,
            (MediumInt | Int, true) => DataType::UInt32,
            (BigInt, false) => DataType::Int64,
            (BigInt, true) => DataType::UInt64,
            // Parquet decimals hold at most 38 digits in Arrow's Decimal128; wider MySQL
            // decimals are written as their exact text rather than rounded.
            (Decimal { precision, scale }, _) if *precision <= 38 => {
                DataType::Decimal128(*precision, *scale as i8)
            }
            (Decimal { .. }, _) => DataType::Utf8,
            (Float, _) => DataType::Float32,
            (Double, _) => DataType::Float64,
            (Bit { bits: 1 }, _) => DataType::Boolean,
            (Bit { .. }, _) => DataType::Binary,
            (Date, _) => DataType::Date32,
            (Time { .. }, _) => DataType::Utf8,
            (DateTime | Timestamp, _) => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            (Year, _) => DataType::Int16,
            (Text | Enum(_) | Set(_) | Json, _) => DataType::Utf8,
            (Binary, _) => DataType::Binary,
        }
    }

    /// Builds a column from `information_schema.COLUMNS` fields.
    pub fn from_information_schema(
        name: String,
        data_type: &str,
        column_type: &str,
        nullable: bool,
        numeric_precision: Option<u64>,
        numeric_scale: Option<u64>,
        datetime_precision: Option<u64>,
        charset: Option<String>,
    ) -> Result<Self, String> {
        let column_type_lc = column_type.to_ascii_lowercase();
        let unsigned = column_type_lc.contains("unsigned");
        let ty = match data_type.to_ascii_lowercase().as_str() {
            "tinyint" | "bool" | "boolean" => ColumnType::TinyInt,
            "smallint" => ColumnType::SmallInt,
            "mediumint" => ColumnType::MediumInt,
            "int" | "integer" => ColumnType::Int,
            "bigint" => ColumnType::BigInt,
            "decimal" | "numeric" => ColumnType::Decimal {
                precision: numeric_precision.unwrap_or(10) as u8,
                scale: numeric_scale.unwrap_or(0) as u8,
            },
            "float" => ColumnType::Float,
            "double" | "real" => ColumnType::Double,
            "bit" => ColumnType::Bit { bits: numeric_precision.unwrap_or(1) as u16 },
            "date" => ColumnType::Date,
            "time" => ColumnType::Time { fsp: datetime_precision.unwrap_or(0) as u8 },
            "datetime" => ColumnType::DateTime,
            "timestamp" => ColumnType::Timestamp,
            "year" => ColumnType::Year,
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => {
                // MariaDB reports JSON columns as longtext with a json_valid check; they are
                // text either way.
                ColumnType::Text
            }
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob"
            | "geometry" | "point" | "linestring" | "polygon" | "multipoint"
            | "multilinestring" | "multipolygon" | "geometrycollection" | "geomcollection" => {
                ColumnType::Binary
            }
            "enum" => ColumnType::Enum(parse_labels(column_type)?),
            "set" => ColumnType::Set(parse_labels(column_type)?),
            "json" => ColumnType::Json,
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
            return Err(format!("column {name}: character set {cs} is not supported yet (utf8mb4, utf8mb3, ascii and latin1 are); exclude the table or convert the column"));
        }
        Ok(Self { name, ty, unsigned, nullable, charset })
    }
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
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    include: Vec<(String, String)>,
    exclude: Vec<(String, String)>,
}

impl TableFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, String> {
        let split = |p: &String| -> Result<(String, String), String> {
            let (db, table) = p.split_once('.').ok_or_else(|| {
                format!("table pattern {p:?} must be db.table (for example shop.* or *.orders)")
            })?;
            Ok((db.replace('%', "*"), table.replace('%', "*")))
        };
        Ok(Self {
            include: include.iter().map(split).collect::<Result<_, _>>()?,
            exclude: exclude.iter().map(split).collect::<Result<_, _>>()?,
        })
    }

    pub fn matches(&self, db: &str, table: &str) -> bool {
        if is_system_database(db) {
            return false;
        }
        let hit = |(d, t): &(String, String)| glob(d, db) && glob(t, table);
        (self.include.is_empty() || self.include.iter().any(hit)) && !self.exclude.iter().any(hit)
    }
}

pub fn is_system_database(db: &str) -> bool {
    matches!(db, "mysql" | "information_schema" | "performance_schema" | "sys")
}

/// Glob match with `*` only; case-sensitive like table names on Linux servers.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns() {
        let f = TableFilter::new(
            &["shop.*".into(), "crm.customers".into(), "%.audit_%".into()],
            &["*.tmp_*".into()],
        )
        .unwrap();
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
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b", "aXXc"));
        assert!(glob("tmp_*", "tmp_"));
    }

    #[test]
    fn enum_labels_with_quotes_and_commas() {
        assert_eq!(parse_labels("enum('a','b''c','d,e')").unwrap(), vec!["a", "b'c", "d,e"]);
        assert_eq!(parse_labels("set('x')").unwrap(), vec!["x"]);
    }
}
