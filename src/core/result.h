// Result<T>: the value-or-error type every codec and network step returns.
// Errors are std::error_code in the "culvert" category (errors.h) or the OS/Asio categories.
#pragma once

#include <system_error>
#include <tl/expected.hpp>

#include "core/errors.h"

namespace culvert {

template <class T>
using Result = tl::expected<T, std::error_code>;

inline tl::unexpected<std::error_code> fail(Errc e) { return tl::unexpected(make_error_code(e)); }
inline tl::unexpected<std::error_code> fail(std::error_code e) { return tl::unexpected(e); }

}  // namespace culvert
