/** Every shipped model the project trains, in the order `npm run train -- all` trains them. */
import { datesSeq2seq } from './dates';
import { induction } from './induction';
import type { Recipe } from './recipe';
import { lmPostnorm, lmPrenorm } from './shakespeare';

export const RECIPES: Recipe[] = [induction, datesSeq2seq, lmPrenorm, lmPostnorm];

/** The model the app opens first. */
export const DEFAULT_MODEL = lmPrenorm.name;
