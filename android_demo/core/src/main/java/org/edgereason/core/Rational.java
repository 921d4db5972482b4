package org.edgereason.core;

import java.math.BigInteger;

/**
 * An exact rational number in lowest terms with a positive denominator, as Python's {@code fractions.Fraction}: the
 * checked arithmetic (runtime/arith.py) compares values exactly, never as doubles.
 */
final class Rational {
    static final Rational ZERO = new Rational(BigInteger.ZERO, BigInteger.ONE);
    private static final BigInteger HUNDRED = BigInteger.valueOf(100);

    final BigInteger num;
    final BigInteger den;

    private Rational(BigInteger num, BigInteger den) {
        this.num = num;
        this.den = den;
    }

    /** num / den reduced; den must not be 0. */
    static Rational of(BigInteger num, BigInteger den) {
        if (den.signum() < 0) {
            num = num.negate();
            den = den.negate();
        }
        BigInteger g = num.gcd(den);
        return g.equals(BigInteger.ONE) ? new Rational(num, den) : new Rational(num.divide(g), den.divide(g));
    }

    static Rational of(long n) {
        return new Rational(BigInteger.valueOf(n), BigInteger.ONE);
    }

    Rational add(Rational o) {
        return of(num.multiply(o.den).add(o.num.multiply(den)), den.multiply(o.den));
    }

    Rational subtract(Rational o) {
        return add(o.negate());
    }

    Rational multiply(Rational o) {
        return of(num.multiply(o.num), den.multiply(o.den));
    }

    /** this / o; o must not be 0. */
    Rational divide(Rational o) {
        return of(num.multiply(o.den), den.multiply(o.num));
    }

    Rational negate() {
        return new Rational(num.negate(), den);
    }

    Rational percent() {
        return of(num, den.multiply(HUNDRED));
    }

    int signum() {
        return num.signum();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Rational && num.equals(((Rational) o).num) && den.equals(((Rational) o).den);
    }

    @Override
    public int hashCode() {
        return num.hashCode() * 31 + den.hashCode();
    }

    @Override
    public String toString() {
        return num + "/" + den;
    }
}
