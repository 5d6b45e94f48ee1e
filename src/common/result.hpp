// A small result type for the control plane: a value or an error message
// (std::expected is C++23; this is the subset we use).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace vxr {

struct error {
    std::string message;
};

template <typename T>
class result {
public:
    result(T value) : v_(std::move(value)) {}
    result(error e) : v_(std::move(e)) {}
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const std::string& err() const { return std::get<1>(v_).message; }

private:
    std::variant<T, error> v_;
};

template <>
class result<void> {
public:
    result() = default;
    result(error e) : err_(std::move(e.message)), ok_(false) {}
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const std::string& err() const { return err_; }

private:
    std::string err_;
    bool ok_ = true;
};

inline error make_error(std::string msg) { return error{std::move(msg)}; }

}  // namespace vxr
