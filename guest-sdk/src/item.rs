//! The SDK's own form of a tensor, whichever way it crossed the boundary
//! (a model's spec index or a policy's name), and the byte layout of
//! tensor data in WIT 0.2.

use crate::{DataType, Error};

/// A tensor as the SDK holds it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Item {
    pub(crate) name: String,
    pub(crate) datatype: DataType,
    pub(crate) shape: Vec<i64>,
    pub(crate) data: Data,
}

/// Tensor contents.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    /// Fixed-size elements, little-endian, row-major.
    Raw(Vec<u8>),
    /// One byte string per element (BYTES).
    Strings(Vec<Vec<u8>>),
}

impl Data {
    /// The data as it arrived in WIT 0.2: raw bytes, or for BYTES each
    /// element after its 4-byte little-endian length.
    pub(crate) fn from_wit(datatype: DataType, bytes: Vec<u8>) -> Result<Data, String> {
        if datatype != DataType::Bytes {
            return Ok(Data::Raw(bytes));
        }
        let mut elements = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .ok_or("truncated BYTES element length")?;
            let len = u32::from_le_bytes(*len) as usize;
            if len > tail.len() {
                return Err(format!("BYTES element of {len} bytes overruns the data"));
            }
            let (element, tail) = tail.split_at(len);
            elements.push(element.to_vec());
            rest = tail;
        }
        Ok(Data::Strings(elements))
    }

    /// The data in WIT 0.2's layout.
    pub(crate) fn into_wit(self) -> Vec<u8> {
        match self {
            Data::Raw(bytes) => bytes,
            Data::Strings(elements) => {
                let total = elements.iter().map(|e| e.len() + 4).sum();
                let mut out = Vec::with_capacity(total);
                for e in elements {
                    // An element longer than 4 GiB cannot be in a request
                    // or a response; saturate rather than wrap.
                    let len = u32::try_from(e.len()).unwrap_or(u32::MAX);
                    out.extend_from_slice(&len.to_le_bytes());
                    out.extend_from_slice(&e);
                }
                out
            }
        }
    }
}

/// Element size of fixed-size datatypes.
pub(crate) fn element_size(d: DataType) -> Option<usize> {
    match d {
        DataType::Boolean | DataType::Uint8 | DataType::Int8 => Some(1),
        DataType::Uint16 | DataType::Int16 | DataType::Fp16 => Some(2),
        DataType::Uint32 | DataType::Int32 | DataType::Fp32 => Some(4),
        DataType::Uint64 | DataType::Int64 | DataType::Fp64 => Some(8),
        DataType::Bytes => None,
    }
}

/// Checks that a tensor's data fits its shape.
pub(crate) fn check_size(t: &Item) -> Result<(), Error> {
    let count = t
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))
        .ok_or_else(|| Error::invalid_input(format!("input '{}' has an invalid shape", t.name)))?;
    let ok = match (&t.data, element_size(t.datatype)) {
        (Data::Raw(b), Some(size)) => Some(b.len()) == count.checked_mul(size),
        (Data::Strings(s), None) => s.len() == count,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "input '{}': data does not fit shape {:?}",
            t.name, t.shape
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_through_the_wit_layout() {
        let data = Data::Strings(vec![b"ab".to_vec(), Vec::new(), b"c".to_vec()]);
        let wire = data.clone().into_wit();
        assert_eq!(wire, [2, 0, 0, 0, b'a', b'b', 0, 0, 0, 0, 1, 0, 0, 0, b'c']);
        assert_eq!(Data::from_wit(DataType::Bytes, wire), Ok(data));
        assert!(Data::from_wit(DataType::Bytes, vec![5, 0, 0, 0, 1]).is_err());
        assert!(Data::from_wit(DataType::Bytes, vec![1, 0]).is_err());
        assert_eq!(
            Data::from_wit(DataType::Fp32, vec![0, 0, 128, 63]),
            Ok(Data::Raw(vec![0, 0, 128, 63]))
        );
    }
}
