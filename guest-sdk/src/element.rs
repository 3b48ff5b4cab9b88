//! Fixed-size element types and their little-endian byte conversion.

use crate::DataType;

/// A fixed-size tensor element type.
pub trait Element: Copy + Sized {
    /// The protocol datatype.
    const DATATYPE: DataType;
    /// Size in bytes.
    const SIZE: usize;
    /// Reads one element from `SIZE` little-endian bytes.
    fn read(bytes: &[u8]) -> Self;
    /// Appends the little-endian bytes of one element.
    fn write(self, out: &mut Vec<u8>);
}

macro_rules! element {
    ($t:ty, $dt:ident) => {
        impl Element for $t {
            const DATATYPE: DataType = DataType::$dt;
            const SIZE: usize = std::mem::size_of::<$t>();
            fn read(bytes: &[u8]) -> Self {
                let mut buf = [0u8; std::mem::size_of::<$t>()];
                buf.copy_from_slice(&bytes[..Self::SIZE]);
                <$t>::from_le_bytes(buf)
            }
            fn write(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}

element!(u8, Uint8);
element!(u16, Uint16);
element!(u32, Uint32);
element!(u64, Uint64);
element!(i8, Int8);
element!(i16, Int16);
element!(i32, Int32);
element!(i64, Int64);
element!(f32, Fp32);
element!(f64, Fp64);

impl Element for bool {
    const DATATYPE: DataType = DataType::Boolean;
    const SIZE: usize = 1;
    fn read(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
    fn write(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
}
