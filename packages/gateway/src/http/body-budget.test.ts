import { describe, expect, it } from 'vitest';
import { BodyBudget } from './body-budget.js';

describe('BodyBudget', () => {
  it('holds bytes up to its limit and takes nothing for what does not fit', () => {
    const budget = new BodyBudget(10);
    expect(budget.tryHold(6)).toBe(true);
    expect(budget.tryHold(5)).toBe(false);
    expect(budget.heldBytes).toBe(6);
    expect(budget.tryHold(4)).toBe(true);
    budget.release(10);
    expect(budget.heldBytes).toBe(0);
  });

  it('counts uploads per key up to each key’s maximum', () => {
    const budget = new BodyBudget(10);
    expect(budget.tryStartUpload('a', 2)).toBe(true);
    expect(budget.tryStartUpload('a', 2)).toBe(true);
    expect(budget.tryStartUpload('a', 2)).toBe(false);
    expect(budget.tryStartUpload('b', 2)).toBe(true);
    expect(budget.tryStartUpload('c', undefined)).toBe(true);
    budget.endUpload('a');
    expect(budget.uploadsOf('a')).toBe(1);
    expect(budget.tryStartUpload('a', 2)).toBe(true);
  });
});
