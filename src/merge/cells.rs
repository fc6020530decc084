//! Source columns in the merged tables, and Arrow values back to cells. The merged table keeps
//! each column's exact value with the Delta type closest to the MySQL type: Delta has no
//! unsigned integers (they widen: BIGINT UNSIGNED becomes DECIMAL(20,0)) and keeps DATETIME as
//! `timestamp_ntz` (a wall-clock time) and TIMESTAMP as `timestamp` (an instant, UTC).

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType as ArrowType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int64Type, TimeUnit, UInt64Type};
use deltalake_core::kernel::{DataType, StructField};

use crate::schema::{Column, ColumnType};
use crate::value::Cell;

/// The Delta column of a source column. Every column is nullable: MySQL's NOT NULL is not
/// enforced by the lake, and zero dates are NULL.
pub fn delta_field(column: &Column) -> StructField {
    use ColumnType::*;
    let ty = match (&column.ty, column.unsigned) {
        (TinyInt, false) => DataType::BYTE,
        (TinyInt, true) | (SmallInt, false) | (Year, _) => DataType::SHORT,
        (SmallInt, true) | (MediumInt | Int, false) => DataType::INTEGER,
        (MediumInt | Int, true) | (BigInt, false) => DataType::LONG,
        (BigInt, true) => DataType::decimal(20, 0).expect("valid decimal"),
        (Decimal { precision, scale }, _) if *precision <= 38 => DataType::decimal(*precision, *scale).expect("valid decimal"),
        (Decimal { .. }, _) => DataType::STRING,
        (Float, _) => DataType::FLOAT,
        (Double, _) => DataType::DOUBLE,
        (Boolean, _) | (Bit { bits: 1 }, _) => DataType::BOOLEAN,
        (Bit { .. }, _) | (Binary | Geometry, _) => DataType::BINARY,
        (Date, _) => DataType::DATE,
        (DateTime { .. }, _) => DataType::TIMESTAMP_NTZ,
        (Timestamp { .. }, _) => DataType::TIMESTAMP,
        (Time { .. } | Text | Enum(_) | Set(_) | Json | Uuid | Inet4 | Inet6, _) => DataType::STRING,
    };
    StructField::new(column.name.clone(), ty, true)
}

/// A cell as the merged table's column holds it (see [`delta_field`]).
pub fn to_lake(column: &Column, cell: &Cell) -> Cell {
    match (cell, &column.ty) {
        (Cell::UInt(u), ColumnType::BigInt) => Cell::Decimal(u.to_string()),
        _ => cell.clone(),
    }
}

/// The cells of one column of a batch, as the snapshot produces them for `column`, from any
/// Arrow type a DMS file, a binlake file or a merged table uses for it.
pub fn from_arrow(column: &Column, array: &ArrayRef) -> Result<Vec<Cell>, String> {
    use ColumnType::*;
    let wrong = || format!("column {}: {} cannot hold {:?}", column.name, array.data_type(), column.ty);
    let cast = |to: &ArrowType| arrow::compute::cast(array, to).map_err(|e| format!("column {}: {e}", column.name));
    let n = array.len();
    let mut out = Vec::with_capacity(n);
    macro_rules! each {
        ($arr:expr, $f:expr) => {{
            let a = &$arr;
            for i in 0..n {
                out.push(if a.is_null(i) { Cell::Null } else { $f(a.value(i)) });
            }
        }};
    }
    match (&column.ty, array.data_type()) {
        (Boolean | Bit { bits: 1 }, ArrowType::Boolean) => each!(array.as_boolean(), Cell::Bool),
        (Boolean, _) => {
            let a = cast(&ArrowType::Int64)?;
            each!(a.as_primitive::<Int64Type>(), |v: i64| Cell::Bool(v != 0))
        }
        (BigInt, ArrowType::Decimal128(..)) if column.unsigned => {
            let a = cast(&ArrowType::Decimal128(20, 0))?;
            let a = a.as_primitive::<Decimal128Type>();
            each!(a, |v: i128| Cell::UInt(v as u64))
        }
        (TinyInt | SmallInt | MediumInt | Int | BigInt | Year, _) if column.unsigned => {
            let a = cast(&ArrowType::UInt64)?;
            each!(a.as_primitive::<UInt64Type>(), Cell::UInt)
        }
        (TinyInt | SmallInt | MediumInt | Int | BigInt | Year, _) => {
            let a = cast(&ArrowType::Int64)?;
            each!(a.as_primitive::<Int64Type>(), Cell::Int)
        }
        (Decimal { precision, scale }, ArrowType::Decimal128(..)) if *precision <= 38 => {
            let a = cast(&ArrowType::Decimal128(*precision, *scale as i8))?;
            let a = a.as_primitive::<Decimal128Type>();
            for i in 0..n {
                out.push(if a.is_null(i) { Cell::Null } else { Cell::Decimal(a.value_as_string(i)) });
            }
        }
        (Float, _) => {
            let a = cast(&ArrowType::Float32)?;
            each!(a.as_primitive::<Float32Type>(), Cell::Float)
        }
        (Double, _) => {
            let a = cast(&ArrowType::Float64)?;
            each!(a.as_primitive::<Float64Type>(), Cell::Double)
        }
        (Date, _) => {
            let a = cast(&ArrowType::Date32)?;
            each!(a.as_primitive::<Date32Type>(), Cell::Date)
        }
        (DateTime { .. } | Timestamp { .. }, ArrowType::Timestamp(unit, _)) => {
            let per_micro: i64 = match unit {
                TimeUnit::Second => 1_000_000,
                TimeUnit::Millisecond => 1000,
                TimeUnit::Microsecond => 1,
                TimeUnit::Nanosecond => 0,
            };
            let raw = cast(&ArrowType::Int64)?;
            let raw = raw.as_primitive::<Int64Type>();
            each!(raw, |v: i64| Cell::Micros(if per_micro == 0 { v.div_euclid(1000) } else { v * per_micro }))
        }
        (Bit { .. } | Binary | Geometry, _) => {
            let a = cast(&ArrowType::Binary)?;
            each!(a.as_binary::<i32>(), |v: &[u8]| Cell::Bytes(v.to_vec()))
        }
        (Decimal { .. } | Time { .. } | Text | Enum(_) | Set(_) | Json | Uuid | Inet4 | Inet6, _) => {
            let a = cast(&ArrowType::Utf8)?;
            each!(a.as_string::<i32>(), |v: &str| match column.ty {
                Decimal { .. } => Cell::Decimal(v.to_string()),
                _ => Cell::Text(v.to_string()),
            })
        }
        _ => return Err(wrong()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Decimal128Array, TimestampMillisecondArray, UInt8Array};

    use super::*;

    fn column(ty: ColumnType, unsigned: bool) -> Column {
        Column { name: "c".into(), ty, unsigned, nullable: true, charset: None, default: None, large: false, storage: None }
    }

    #[test]
    fn values_come_back_as_the_snapshot_reads_them() {
        let u8s: ArrayRef = Arc::new(UInt8Array::from(vec![Some(255), None]));
        assert_eq!(from_arrow(&column(ColumnType::TinyInt, true), &u8s).unwrap(), vec![Cell::UInt(255), Cell::Null]);
        let dec: ArrayRef = Arc::new(Decimal128Array::from(vec![-1250]).with_precision_and_scale(12, 2).unwrap());
        let decimal = column(ColumnType::Decimal { precision: 12, scale: 2 }, false);
        assert_eq!(from_arrow(&decimal, &dec).unwrap(), vec![Cell::Decimal("-12.50".into())]);
        let big: ArrayRef = Arc::new(Decimal128Array::from(vec![u64::MAX as i128]).with_precision_and_scale(20, 0).unwrap());
        assert_eq!(from_arrow(&column(ColumnType::BigInt, true), &big).unwrap(), vec![Cell::UInt(u64::MAX)]);
        let ms: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![1500]).with_timezone("UTC"));
        assert_eq!(from_arrow(&column(ColumnType::DateTime { fsp: 3 }, false), &ms).unwrap(), vec![Cell::Micros(1_500_000)]);
        assert_eq!(to_lake(&column(ColumnType::BigInt, true), &Cell::UInt(u64::MAX)), Cell::Decimal("18446744073709551615".into()));
    }
}
