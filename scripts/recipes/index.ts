/** Every shipped model the project trains, in the order `npm run train -- all` trains them. */
import { datesSeq2seq } from './dates';
import { induction } from './induction';
import type { Recipe } from './recipe';
import { lmPostnorm, lmPrenorm } from './shakespeare';

export const RECIPES: Recipe[] = [induction, datesSeq2seq, lmPrenorm, lmPostnorm];

/**
 * The model the app opens first: the one whose first screen shows a confident prediction (98%)
 * and a clear pattern (an induction head) with today's weights.
 */
export const DEFAULT_MODEL = induction.name;
